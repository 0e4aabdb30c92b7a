"""CDNOW (a real customer data set) as weekly snapshots, and Python xgboost on it.

CDNOW_master.txt ships inside the `lifetimes` wheel (MIT; the data is the
CDNOW sample Fader & Hardie published for research): every purchase of the
23,570 customers who first bought at CDNOW in Q1 1997, through June 1998.
For each customer and each Sunday from 1997-04-06 to 1998-06-21 this makes one
row: features from the purchases before that Sunday, and the label
engaged_next_7d = the customer buys in the 7 days from it.

    python cdnow.py OUT_DIR THREADS
writes OUT_DIR/train.csv (snapshots before TEST_FROM) and OUT_DIR/test.csv,
trains xgboost (hist) on train.csv with the same time split for early stopping
that `engage model train --time-split` gets, and prints its figures as JSON.
"""

import datetime as dt
import json
import os
import sys
import time
import importlib.util

import numpy as np
import xgboost as xgb

D0 = dt.date(1996, 12, 29)  # a Sunday before the first purchase
FIRST, LAST = 14, 77  # snapshot weeks: 1997-04-06 .. 1998-06-21
VALID_FROM, TEST_FROM = 56, 66  # validation (early stopping) and test snapshots
FEATURES = [
    "tenure_weeks", "recency_weeks", "purchases", "purchases_4w", "purchases_13w", "purchases_26w",
    "cds", "cds_13w", "spend", "spend_13w", "avg_order_value", "first_order_value", "first_order_cds",
]
PARAMS = {"rounds": 300, "depth": 6, "eta": 0.1, "early_stopping_rounds": 20}


def snapshot(k):
    return (D0 + dt.timedelta(days=7 * k)).isoformat()


def load():
    # find_spec locates the package without importing it (its __init__ needs scipy, pandas, ...).
    folder = importlib.util.find_spec("lifetimes").submodule_search_locations[0]
    text = open(os.path.join(folder, "datasets", "CDNOW_master.txt")).read()
    rows = [line.split() for line in text.splitlines()[1:] if line.strip()]
    cust = np.array([int(r[0]) for r in rows]) - 1
    day = np.array([(dt.date(int(r[1][:4]), int(r[1][4:6]), int(r[1][6:])) - D0).days for r in rows])
    return cust, day // 7, np.array([float(r[2]) for r in rows]), np.array([float(r[3]) for r in rows])


def weekly(cust, week, cds, value):
    n, w = cust.max() + 1, LAST + 2
    shape = (n, w)
    count, c, v = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    np.add.at(count, (cust, week), 1)
    np.add.at(c, (cust, week), cds)
    np.add.at(v, (cust, week), value)
    return count, c, v


def rows_for(count, cds, value, k):
    """Feature rows at snapshot week k (history: weeks < k) and labels (week k)."""
    cum = lambda a: a[:, :k].sum(axis=1)
    last = lambda a, n: a[:, max(0, k - n):k].sum(axis=1)
    active = count[:, :k] > 0
    first = active.argmax(axis=1)
    seen = active.any(axis=1)
    last_week = k - 1 - active[:, ::-1].argmax(axis=1)
    purchases = cum(count)
    first_count = count[np.arange(len(first)), first]
    x = np.column_stack([
        k - first, k - last_week, purchases, last(count, 4), last(count, 13), last(count, 26),
        cum(cds), last(cds, 13), cum(value), last(value, 13),
        cum(value) / np.maximum(purchases, 1),
        value[np.arange(len(first)), first] / np.maximum(first_count, 1),
        cds[np.arange(len(first)), first] / np.maximum(first_count, 1),
    ])
    y = (count[:, k] > 0).astype(np.int8)
    return x[seen], y[seen], np.nonzero(seen)[0]


def write_csv(path, parts):
    with open(path, "w") as f:
        f.write("user_id,snapshot_date," + ",".join(FEATURES) + ",engaged_next_7d\n")
        for k, x, y, ids in parts:
            date = snapshot(k)
            for i in range(len(y)):
                f.write(f"c{ids[i] + 1:05d},{date}," + ",".join(f"{v:.6g}" for v in x[i]) + f",{y[i]}\n")


def auc(y, p):
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    # Average ranks over ties.
    _, inv, counts = np.unique(p, return_inverse=True, return_counts=True)
    sums = np.zeros(len(counts))
    np.add.at(sums, inv, ranks)
    ranks = sums[inv] / counts[inv]
    pos = y.sum()
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * (len(y) - pos)))


def main():
    out, threads = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    count, cds, value = weekly(*load())
    parts = [(k, *rows_for(count, cds, value, k)) for k in range(FIRST, LAST + 1)]
    train = [p for p in parts if p[0] < TEST_FROM]
    test = [p for p in parts if p[0] >= TEST_FROM]
    write_csv(os.path.join(out, "train.csv"), train)
    write_csv(os.path.join(out, "test.csv"), test)
    stack = lambda ps: (np.vstack([p[1] for p in ps]).astype(np.float32), np.concatenate([p[2] for p in ps]))
    xt, yt = stack([p for p in train if p[0] < VALID_FROM])
    xv, yv = stack([p for p in train if p[0] >= VALID_FROM])
    xs, ys = stack(test)
    started = time.perf_counter()
    dtrain = xgb.DMatrix(xt, label=yt, feature_names=FEATURES, nthread=threads)
    dvalid = xgb.DMatrix(xv, label=yv, feature_names=FEATURES, nthread=threads)
    booster = xgb.train(
        {"objective": "binary:logistic", "tree_method": "hist", "max_depth": PARAMS["depth"], "eta": PARAMS["eta"],
         "max_bin": 255, "eval_metric": "logloss", "nthread": threads},
        dtrain, PARAMS["rounds"], evals=[(dvalid, "valid")], early_stopping_rounds=PARAMS["early_stopping_rounds"], verbose_eval=False,
    )
    seconds = time.perf_counter() - started
    probs = booster.predict(xgb.DMatrix(xs, feature_names=FEATURES, nthread=threads), iteration_range=(0, booster.best_iteration + 1))
    print(json.dumps({
        "customers": int(count.shape[0]),
        "train_rows": int(len(yt) + len(yv)), "validation_from": snapshot(VALID_FROM),
        "test_rows": int(len(ys)), "test_from": snapshot(TEST_FROM),
        "test_label_rate": float(ys.mean()),
        "xgboost_version": xgb.__version__, "xgboost_train_s": seconds,
        "xgboost_trees": booster.best_iteration + 1, "xgboost_test_auc": auc(ys, probs),
    }))


if __name__ == "__main__":
    main()
