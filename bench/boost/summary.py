"""Print the benchmark table and write bench/results/boost.json.

usage: summary.py RESULTS_DIR OUT_JSON DATASET...
Reads RESULTS_DIR/<dataset>.<library>.json (one JSON line each).
"""
import json
import os
import sys

LIBS = ("engage", "xgboost", "lightgbm")
FIELDS = ("train_s", "predict_rows_per_s", "auc", "logloss", "peak_rss_mb")


def main():
    rdir, out, datasets = sys.argv[1], sys.argv[2], sys.argv[3:]
    results = {}
    if os.path.exists(out):
        try:
            results = json.load(open(out))
        except ValueError:
            results = {}
    for ds in datasets:
        row = {}
        for lib in LIBS:
            p = os.path.join(rdir, f"{ds}.{lib}.json")
            if os.path.exists(p):
                r = json.loads(open(p).read().strip().splitlines()[-1])
                row[lib] = {k: r[k] for k in FIELDS}
        if row:
            results[ds] = row
    with open(out, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")

    head = f"{'dataset':<9} {'library':<9} {'train s':>9} {'predict rows/s':>15} {'AUC':>7} {'logloss':>8} {'peak RSS MB':>12}"
    print(head)
    print("-" * len(head))
    for ds, row in results.items():
        for lib in LIBS:
            if lib in row:
                r = row[lib]
                print(f"{ds:<9} {lib:<9} {r['train_s']:>9.1f} {r['predict_rows_per_s']:>15,.0f} {r['auc']:>7.4f} "
                      f"{r['logloss']:>8.4f} {r['peak_rss_mb']:>12.0f}")
        e = row.get("engage")
        for other in ("xgboost", "lightgbm"):
            o = row.get(other)
            if e and o:
                print(f"{ds:<9} {'E/' + other[:4]:<9} {e['train_s'] / o['train_s']:>8.2f}x "
                      f"{e['predict_rows_per_s'] / o['predict_rows_per_s']:>14.2f}x {e['auc'] - o['auc']:>+7.4f} "
                      f"{e['logloss'] - o['logloss']:>+8.4f} {e['peak_rss_mb'] / o['peak_rss_mb']:>11.2f}x")
        print()
    print("ratios: train time, predict throughput and peak RSS as Engage/other; AUC and log loss as differences")


if __name__ == "__main__":
    main()
