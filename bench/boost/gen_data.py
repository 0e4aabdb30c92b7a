"""Synthetic weekly-engagement data for the boosting benchmark.

Writes DIR/{X_train,X_test}.f32 (column-major little-endian f32: all rows of
feature 0, then feature 1, ...), DIR/{y_train,y_test}.f32 and DIR/meta.json.
The columns mimic the raw input: activity counts, recency in days (missing
when the event never happened), spend amounts, flags, ratios and noise. The
label depends on the first 14 columns nonlinearly plus unobserved noise, so
AUC lands near the real problem's (~0.83), not near 1.

usage: gen_data.py DIR N_TRAIN N_TEST N_FEATURES [SEED]
"""
import json
import os
import sys

import numpy as np


def make(n, nf, rng):
    f32 = np.float32
    act = rng.lognormal(0.0, 0.8, n).astype(f32)          # latent activity
    spend = rng.lognormal(0.0, 1.0, n).astype(f32)        # latent spend
    cols = []

    def add(x):
        cols.append(np.asarray(x, dtype=f32))

    # 14 core columns (the label uses these)
    add(rng.poisson(act * 3.0))                           # 0 sessions_7d
    add(rng.poisson(act * 1.2))                           # 1 purchases_30d
    add(rng.poisson(act * 8.0))                           # 2 page_views_7d
    add(rng.poisson(act * 0.5))                           # 3 support_tickets_90d
    rec = rng.exponential(20.0 / act).astype(f32)         # 4 days_since_login
    rec[rng.random(n) < 0.15] = np.nan
    add(rec)
    rec2 = rng.exponential(45.0 / act).astype(f32)        # 5 days_since_purchase
    rec2[rng.random(n) < 0.30] = np.nan
    add(rec2)
    add(rng.integers(0, 3650, n))                         # 6 tenure_days
    amt = (spend * 40.0 * rng.lognormal(0, 0.3, n)).astype(f32)  # 7 spend_30d
    amt[rng.random(n) < 0.05] = np.nan
    add(amt)
    add(spend * 12.0 * rng.lognormal(0, 0.5, n))          # 8 avg_basket
    add(rng.random(n) < 0.3)                              # 9 is_subscriber
    add(rng.random(n) < 1.0 / (1.0 + np.exp(-np.log(act))))  # 10 opened_email
    add(cols[0] / (cols[2] + 1.0))                        # 11 sessions_per_view
    add(rng.normal(0, 1, n))                              # 12 noise
    add(rng.integers(0, 7, n))                            # 13 preferred_weekday

    c = cols
    days = np.nan_to_num(c[4], nan=120.0)
    pdays = np.nan_to_num(c[5], nan=200.0)
    z = (0.9 * np.log1p(c[0]) - 0.6 * np.log1p(days) + 0.35 * np.log1p(c[1])
         - 0.25 * np.log1p(pdays) + 0.4 * c[9] * np.log1p(np.nan_to_num(c[7], nan=0.0)) / 4.0
         + 0.5 * np.sin(c[11] * 4.0) + 0.3 * (c[3] > 2) - 0.25 * (c[6] < 180)
         + 0.3 * c[10] * (c[13] >= 5) + 0.2 * np.tanh(c[12])
         + rng.normal(0, 0.7, n) + 0.6)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(f32)

    # The other raw columns: correlated counts, recencies, amounts, flags, ratios, noise.
    k = 14
    while len(cols) < nf:
        kind = k % 6
        if kind == 0:
            x = rng.poisson(act * rng.uniform(0.2, 10.0))
        elif kind == 1:
            x = rng.exponential(rng.uniform(5, 90) / act).astype(f32)
            x[rng.random(n) < rng.uniform(0.05, 0.5)] = np.nan
        elif kind == 2:
            x = spend * rng.uniform(5, 100) * rng.lognormal(0, 0.6, n)
        elif kind == 3:
            x = rng.random(n) < rng.uniform(0.05, 0.6)
        elif kind == 4:
            x = cols[k % 14] / (cols[(k + 3) % 14] + 1.0)
        else:
            x = rng.normal(0, 1, n)
        add(x)
        k += 1
    return np.stack(cols[:nf]), y


def main():
    out, n_train, n_test, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 42
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = make(n, nf, rng)
        x.astype("<f4").tofile(os.path.join(out, f"X_{split}.f32"))
        y.astype("<f4").tofile(os.path.join(out, f"y_{split}.f32"))
        del x, y
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"n_train": n_train, "n_test": n_test, "n_features": nf, "seed": seed}, f)


if __name__ == "__main__":
    main()
