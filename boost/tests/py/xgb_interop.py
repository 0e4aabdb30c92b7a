"""xgboost side of the interop tests.

predict MODEL DATA NROWS NFEAT OUT   load an XGBoost JSON model, predict the
                                     column-major f32 matrix DATA, write f32 OUT
train DATA LABELS NROWS NFEAT MODEL OUT [MAX_DEPTH ROUNDS]
                                     train hist/binary:logistic, save MODEL as
                                     JSON, write its predictions on DATA to OUT
contribs MODEL DATA NROWS NFEAT OUT  load an XGBoost JSON model, write its exact
                                     TreeSHAP contributions on DATA
                                     (pred_contribs) to OUT, row-major f32,
                                     NROWS x (NFEAT + 1), bias last
"""
import sys

import numpy as np
import xgboost as xgb


def load(path, n, nf):
    return np.fromfile(path, dtype="<f4").reshape(nf, n).T.copy()


def main():
    mode = sys.argv[1]
    if mode == "predict":
        model, data, n, nf, out = sys.argv[2:7]
        x = load(data, int(n), int(nf))
        b = xgb.Booster()
        b.load_model(model)
        names = b.feature_names
        d = xgb.DMatrix(x, feature_names=names, missing=np.nan)
        b.predict(d).astype("<f4").tofile(out)
    elif mode == "train":
        data, labels, n, nf, model, out = sys.argv[2:8]
        n, nf = int(n), int(nf)
        x = load(data, n, nf)
        y = np.fromfile(labels, dtype="<f4")
        names = [f"x{i}" for i in range(nf)]
        d = xgb.DMatrix(x, label=y, feature_names=names, missing=np.nan)
        depth, rounds = (int(sys.argv[8]), int(sys.argv[9])) if len(sys.argv) > 9 else (5, 30)
        params = {"tree_method": "hist", "objective": "binary:logistic", "max_depth": depth,
                  "eta": 0.2, "max_bin": 64, "nthread": 2, "seed": 1}
        b = xgb.train(params, d, num_boost_round=rounds)
        b.save_model(model)
        b.predict(d).astype("<f4").tofile(out)
    elif mode == "contribs":
        model, data, n, nf, out = sys.argv[2:7]
        x = load(data, int(n), int(nf))
        b = xgb.Booster()
        b.load_model(model)
        d = xgb.DMatrix(x, feature_names=b.feature_names, missing=np.nan)
        c = b.predict(d, pred_contribs=True, approx_contribs=False)
        np.ascontiguousarray(c, dtype="<f4").tofile(out)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
