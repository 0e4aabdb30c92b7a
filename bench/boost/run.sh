#!/usr/bin/env bash
# Boosting benchmark: Engage vs XGBoost (hist) vs LightGBM on the same data,
# same settings (200 rounds, depth 6 / 63 leaves, eta 0.1, 256 bins), 2 threads.
# Each library runs in its own process so its peak RSS is its own.
#
#   bench/boost/run.sh                      # both datasets
#   DATASETS=1m_x72 bench/boost/run.sh      # one of: 1m_x72 10m_x14 200k_x72
#
# Env: THREADS (2), ROUNDS (200), BENCH_DATA (data dir, /tmp/engage-boost-bench),
#      ENGAGE_PYTHON (a Python with xgboost, lightgbm, numpy; else .venv is made).
# Writes bench/results/boost.json and prints the table.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/boost"
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-200}
DATA=${BENCH_DATA:-/tmp/engage-boost-bench}
DATASETS=${DATASETS:-"1m_x72 10m_x14"}
PY=${ENGAGE_PYTHON:-$ROOT/.venv/bin/python}

if ! "$PY" -c "import xgboost, lightgbm, numpy" 2>/dev/null; then
    echo "setting up $ROOT/.venv with $HERE/requirements.txt" >&2
    python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q -r "$HERE/requirements.txt"
    PY="$ROOT/.venv/bin/python"
fi

(cd "$ROOT" && cargo build -q --release -p engage-boost --example boost_bench)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/boost_bench"

mkdir -p "$DATA/results"
for ds in $DATASETS; do
    case $ds in
        1m_x72) n=1000000; nt=250000; nf=72 ;;
        10m_x14) n=10000000; nt=1000000; nf=14 ;;
        200k_x72) n=200000; nt=50000; nf=72 ;;
        *) echo "unknown dataset $ds" >&2; exit 2 ;;
    esac
    dir="$DATA/$ds"
    if [ ! -f "$dir/meta.json" ]; then
        echo "generating $ds ($n train + $nt test rows x $nf features)" >&2
        "$PY" "$HERE/gen_data.py" "$dir" $n $nt $nf
    fi
    echo "$ds: engage" >&2
    "$BIN" "$dir" "$THREADS" "$ROUNDS" > "$DATA/results/$ds.engage.json"
    for lib in xgboost lightgbm; do
        echo "$ds: $lib" >&2
        "$PY" "$HERE/py_bench.py" $lib "$dir" "$THREADS" "$ROUNDS" > "$DATA/results/$ds.$lib.json"
    done
    "$PY" "$HERE/summary.py" "$DATA/results" "$ROOT/bench/results/boost.json" $ds > /dev/null
done
"$PY" "$HERE/summary.py" "$DATA/results" "$ROOT/bench/results/boost.json" $DATASETS
