"""One library's side of the boosting benchmark, in its own process so peak
RSS is its own. Prints one JSON line: train_s, predict_rows_per_s, auc,
logloss, peak_rss_mb.

usage: py_bench.py xgboost|lightgbm DATA_DIR THREADS ROUNDS
"""
import json
import os
import sys
import time

import numpy as np


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def load(d, split, meta):
    n = meta[f"n_{split}"]
    nf = meta["n_features"]
    # Row-major (C order) is what both libraries take without another copy;
    # fill it one column at a time so loading never holds the data twice.
    x = np.empty((n, nf), dtype=np.float32)
    with open(os.path.join(d, f"X_{split}.f32"), "rb") as f:
        for j in range(nf):
            x[:, j] = np.fromfile(f, dtype="<f4", count=n)
    y = np.fromfile(os.path.join(d, f"y_{split}.f32"), dtype="<f4")
    return x, y


def auc(y, p):
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.empty(len(p), dtype=np.float64)
    # average ranks for ties
    _, first, counts = np.unique(ps, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    pos = y > 0.5
    npos, nneg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def logloss(y, p):
    p = np.clip(p.astype(np.float64), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main():
    lib, d, threads, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    meta = json.load(open(os.path.join(d, "meta.json")))
    x, y = load(d, "train", meta)
    if lib == "xgboost":
        import xgboost as xgb
        t0 = time.perf_counter()
        dtrain = xgb.QuantileDMatrix(x, label=y, max_bin=256, nthread=threads)
        del x
        params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 6, "eta": 0.1,
                  "max_bin": 256, "nthread": threads, "lambda": 1.0, "min_child_weight": 1.0, "seed": 0}
        model = xgb.train(params, dtrain, num_boost_round=rounds)
        train_s = time.perf_counter() - t0
        del dtrain
        xt, yt = load(d, "test", meta)
        t0 = time.perf_counter()
        p = model.inplace_predict(xt)
        pred_s = time.perf_counter() - t0
    elif lib == "lightgbm":
        import lightgbm as lgb
        t0 = time.perf_counter()
        params = {"objective": "binary", "num_leaves": 63, "learning_rate": 0.1, "max_bin": 255,
                  "num_threads": threads, "verbose": -1, "seed": 0}
        dtrain = lgb.Dataset(x, label=y, params={"max_bin": 255, "verbose": -1}, free_raw_data=True)
        dtrain.construct()
        del x
        model = lgb.train(params, dtrain, num_boost_round=rounds)
        train_s = time.perf_counter() - t0
        del dtrain
        xt, yt = load(d, "test", meta)
        t0 = time.perf_counter()
        p = model.predict(xt, num_threads=threads)
        pred_s = time.perf_counter() - t0
    else:
        raise SystemExit(f"unknown library {lib}")
    print(json.dumps({
        "train_s": train_s,
        "predict_rows_per_s": len(yt) / pred_s,
        "auc": auc(yt, np.asarray(p)),
        "logloss": logloss(yt, np.asarray(p)),
        "peak_rss_mb": peak_rss_mb(),
    }))


if __name__ == "__main__":
    main()
