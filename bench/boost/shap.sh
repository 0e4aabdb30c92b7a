#!/usr/bin/env bash
# TreeSHAP benchmark: Engage's Model::contributions against Python xgboost's
# pred_contribs on the same model (200 trees, depth 6, trained by Engage on
# 200k rows and saved as XGBoost JSON) and the same 1M rows x 14 features,
# same thread count, in one run; checks the two agree. Then the same for path
# (Saabas) attribution, the cheap per-user reasons: Model::path_contributions
# against pred_contribs(approx_contribs=True).
#
#   bench/boost/shap.sh             # ROWS=1000000
#   ROWS=20000 bench/boost/shap.sh  # a quick look
#
# Env: THREADS (2), ROUNDS (200), ROWS (1000000), BENCH_DATA
#      (/tmp/engage-boost-bench), ENGAGE_PYTHON (a Python with xgboost and
#      numpy; else .venv is made). Writes bench/results/shap.json.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/boost"
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-200}
ROWS=${ROWS:-1000000}
DATA=${BENCH_DATA:-/tmp/engage-boost-bench}
PY=${ENGAGE_PYTHON:-$ROOT/.venv/bin/python}

if ! "$PY" -c "import xgboost, numpy" 2>/dev/null; then
    echo "setting up $ROOT/.venv with $HERE/requirements.txt" >&2
    python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q -r "$HERE/requirements.txt"
    PY="$ROOT/.venv/bin/python"
fi

(cd "$ROOT" && cargo build -q --release -p engage-boost --example shap_bench)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/shap_bench"

dir="$DATA/shap_1m_x14"
if [ ! -f "$dir/meta.json" ]; then
    echo "generating 200000 train + 1000000 test rows x 14 features in $dir" >&2
    "$PY" "$HERE/gen_data.py" "$dir" 200000 1000000 14
fi
mkdir -p "$ROOT/bench/results"
"$BIN" "$dir" "$THREADS" "$ROUNDS" "$PY" "$ROWS" | tee "$ROOT/bench/results/shap.json"
