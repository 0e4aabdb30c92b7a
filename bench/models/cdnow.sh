#!/usr/bin/env bash
# `engage model train` against Python xgboost on a real customer data set:
# CDNOW's purchase log (shipped inside the `lifetimes` wheel) turned into
# weekly snapshots by cdnow.py. Same rows, same time split for early stopping
# (300 rounds at most, depth 6, eta 0.1, stop after 20), same thread count;
# test AUC on the 12 newest snapshot weeks, side by side.
#
#   bench/models/cdnow.sh
#
# Env: THREADS (2), BENCH_DATA (/tmp/engage-models-bench), ENGAGE_PYTHON (a
# Python with xgboost and numpy; else .venv is made), ENGAGE_BIN (an engage
# binary to use instead of building a release one). The data stays in
# BENCH_DATA (not committed). Writes bench/results/cdnow.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/models"
THREADS=${THREADS:-2}
DATA=${BENCH_DATA:-/tmp/engage-models-bench}
PY=${ENGAGE_PYTHON:-$ROOT/.venv/bin/python}

if ! "$PY" -c "import xgboost, numpy" 2>/dev/null; then
    echo "setting up $ROOT/.venv with bench/boost/requirements.txt" >&2
    python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q -r "$ROOT/bench/boost/requirements.txt"
    PY="$ROOT/.venv/bin/python"
fi
# Only the data file is needed: no dependencies (scipy, pandas, autograd).
"$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('lifetimes') is None)" || "$PY" -m pip install -q --no-deps "lifetimes==0.11.3"

ENGAGE=${ENGAGE_BIN:-}
if [ -z "$ENGAGE" ]; then
    (cd "$ROOT" && cargo build -q --release --workspace)
    ENGAGE="${CARGO_TARGET_DIR:-$ROOT/target}/release/engage"
fi

echo "building weekly snapshots and training xgboost ($THREADS threads)" >&2
py_json=$("$PY" "$HERE/cdnow.py" "$DATA" "$THREADS")
valid_from=$(echo "$py_json" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['validation_from'])")

echo "training engage ($THREADS threads)" >&2
start=$(date +%s.%N)
"$ENGAGE" model train "$DATA/train.csv" --label engaged_next_7d --time-split "snapshot_date:$valid_from" \
    --params "rounds=300,depth=6,eta=0.1,early_stopping_rounds=20,threads=$THREADS" --out "$DATA/engage.json" > "$DATA/train.txt"
end=$(date +%s.%N)
"$ENGAGE" model eval "$DATA/engage.json" "$DATA/test.csv" --html "$DATA/eval.html" > "$DATA/eval.txt"
echo "TreeSHAP over every training row" >&2
"$ENGAGE" model explain "$DATA/engage.json" "$DATA/train.csv" > "$DATA/explain.txt"

mkdir -p "$ROOT/bench/results"
"$PY" - "$py_json" "$(echo "$end - $start" | bc)" "$DATA" "$THREADS" "$ENGAGE" <<'PY' | tee "$ROOT/bench/results/cdnow.json"
import json, re, sys
py, seconds, data = json.loads(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
train, evals, explain = (open(f"{data}/{f}.txt").read() for f in ("train", "eval", "explain"))
shap = re.search(r"over (\d+) rows .*TreeSHAP took (\S+) s, (\d+) rows/s", explain)
auc = re.search(r"^AUC\s+(\S+)\s+(\S+)", evals, re.M)
trees = re.search(r"^trees\s+(\d+)", train, re.M)
py.update({
    "data": "CDNOW_master.txt from the lifetimes 0.11.3 wheel (MIT)",
    "engage_train_s": seconds,  # includes reading the CSV and fitting the baseline
    "engage_trees": int(trees.group(1)),
    "engage_test_auc": float(auc.group(1)),
    "logistic_baseline_test_auc": float(auc.group(2)),
    "auc_difference": float(auc.group(1)) - py["xgboost_test_auc"],
    "treeshap_rows": int(shap.group(1)), "treeshap_s": float(shap.group(2)), "treeshap_rows_per_s": int(shap.group(3)),
    "threads": int(sys.argv[4]),
    "engage_binary": sys.argv[5],
})
print(json.dumps(py, indent=1))
PY
echo "test AUC: engage $(grep -o '"engage_test_auc": [0-9.]*' "$ROOT/bench/results/cdnow.json" | cut -d' ' -f2)," \
     "xgboost $(grep -o '"xgboost_test_auc": [0-9.]*' "$ROOT/bench/results/cdnow.json" | cut -d' ' -f2)" >&2
