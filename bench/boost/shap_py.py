"""Python xgboost's side of the TreeSHAP benchmark (run by shap_bench).

Loads MODEL (XGBoost JSON), the first ROWS rows of the column-major f32 file
DATA (N_FILE rows x NF features), times Booster.predict(pred_contribs=True)
with THREADS threads, writes the contributions row-major f32 to OUT, then the
same for the approximate (Saabas path) contributions (approx_contribs=True) to
OUT.approx, and prints one JSON line: contribs_s, contribs_cpu_s, approx_s,
approx_cpu_s, dmatrix_s, xgboost.

usage: shap_py.py MODEL DATA N_FILE ROWS NF THREADS OUT
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb


def main():
    model, data, n_file, rows, nf, threads, out = sys.argv[1:8]
    n_file, rows, nf, threads = int(n_file), int(rows), int(nf), int(threads)
    x = np.empty((rows, nf), dtype=np.float32)
    with open(data, "rb") as f:
        for j in range(nf):
            x[:, j] = np.fromfile(f, dtype="<f4", count=n_file)[:rows]
    b = xgb.Booster()
    b.load_model(model)
    b.set_param({"nthread": threads})
    t0 = time.perf_counter()
    d = xgb.DMatrix(x, feature_names=b.feature_names, missing=np.nan, nthread=threads)
    dmatrix_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    c = b.predict(d, pred_contribs=True)
    contribs_s, contribs_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    np.ascontiguousarray(c, dtype="<f4").tofile(out)
    del c
    t0, c0 = time.perf_counter(), time.process_time()
    a = b.predict(d, pred_contribs=True, approx_contribs=True)
    approx_s, approx_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    np.ascontiguousarray(a, dtype="<f4").tofile(out + ".approx")
    print(json.dumps({
        "contribs_s": contribs_s, "contribs_cpu_s": contribs_cpu_s,
        "approx_s": approx_s, "approx_cpu_s": approx_cpu_s,
        "dmatrix_s": dmatrix_s, "xgboost": xgb.__version__,
    }))


if __name__ == "__main__":
    main()
