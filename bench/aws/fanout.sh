#!/usr/bin/env bash
# Shard fan-out: the predict stage (4 shards, 4 at a time) on USERS users under each
# [shards] executor — threads, local processes, ECS tasks through the stand-in on
# 127.0.0.1 (tests/support/ecs_standin.py, which runs each task as a local process) —
# and unsharded (one shard) side by side: seconds, ratio to threads, and the overhead per shard.
#   USERS=1000000 bench/aws/fanout.sh        (ENGAGE_BIN to use a given binary; needs ENGAGE_PYTHON)
#   USERS=10000000 REASONS=path EXECUTORS="threads unsharded" bench/aws/fanout.sh
# REASONS: predict's per-user reasons, exact (TreeSHAP, default) or path (what 10M runs use).
# Figures go to $RESULTS (default bench/results/fanout.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
users="${USERS:-1000000}"
reasons="${REASONS:-exact}"
executors="${EXECUTORS:-threads processes ecs unsharded}"
results_file="${RESULTS:-bench/results/fanout.txt}"
python="${ENGAGE_PYTHON:-.venv/bin/python}"
target_dir="${CARGO_TARGET_DIR:-target}"
if [ -z "${ENGAGE_BIN:-}" ]; then
  cargo build --release --locked -q --workspace
  ENGAGE_BIN="$target_dir/release/engage"
fi
engage="$(realpath "$ENGAGE_BIN")"
export ENGAGE_PLUGIN_DIR="${ENGAGE_PLUGIN_DIR:-${CARGO_TARGET_DIR:-$repo/plugins/target}/wasm32-wasip2/release}"
scripts/build-python-plugins.sh "$engage" >&2
work="$(mktemp -d)"
export ENGAGE_ROOT="$work/data" ENGAGE_CACHE_DIR="$work/cache"
trap '[ -n "${standin:-}" ] && kill "$standin" 2>/dev/null; rm -rf "$work"' EXIT

echo "==> $users users x 4 weeks, one weekly run (threads) for the scoring table and the model" >&2
"$engage" data generate --users "$users" --weeks 4 --seed 7 --format parquet --out "$ENGAGE_ROOT/landing/users" >/dev/null
start=$(date +%s.%N)
"$engage" run pipelines/weekly-engagement.toml --no-progress --json --set "reasons_method=$reasons" >"$work/weekly.json"
weekly_seconds=$(echo "$(date +%s.%N) - $start" | bc)
run_id=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["run_id"])' "$work/weekly.json")
run_db="run_${run_id//-/_}"
sets=(--set "table=$run_db.scoring_features" --set "model_uri=s3://models/engagement/run=$run_id/model.json" --set "reasons_method=$reasons")
# Unsharded: the same stage as one shard.
sed 's/^map = { shards = 4, max_concurrency = 4 }$/map = { shards = 1, max_concurrency = 1 }/' bench/aws/fanout-predict.toml >"$work/unsharded-predict.toml"

timed() { # label config-file-or-empty [pipeline file]
  local config=() start end
  [ -n "$2" ] && config=(--config "$2")
  start=$(date +%s.%N)
  "$engage" run "${3:-bench/aws/fanout-predict.toml}" --no-progress --json "${sets[@]}" "${config[@]}" >"$work/$1.json"
  end=$(date +%s.%N)
  echo "$1 $(echo "$end - $start" | bc)"
}

printf '[shards]\nexecutor = "processes"\n' >"$work/processes.toml"
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" tests/support/ecs_standin.py --port "$port" --engage "$engage" --log "$work/ecs.jsonl" --cluster bench --container engage &
standin=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
cat >"$work/ecs.toml" <<TOML
[aws]
region = "us-east-1"
endpoint_url = "http://127.0.0.1:$port"
[shards]
executor = "ecs"
cluster = "bench"
task_definition = "engage-weekly:1"
container = "engage"
subnets = ["subnet-bench"]
TOML
export AWS_ACCESS_KEY_ID=AKIDECSSTANDIN AWS_SECRET_ACCESS_KEY=ecs-standin-secret AWS_EC2_METADATA_DISABLED=true

echo "==> predict, 4 shards, under each executor" >&2
results=$(for executor in $executors; do
  case "$executor" in
    threads) timed threads "" ;;
    processes) timed processes "$work/processes.toml" ;;
    ecs) timed ecs "$work/ecs.toml" ;;
    unsharded) timed unsharded "" "$work/unsharded-predict.toml" ;;
  esac
done)
rows=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["stages"][0]["rows_out"])' "$work/threads.json" 2>/dev/null || echo "?")
threads=$(echo "$results" | awk '$1=="threads"{print $2}')
{
  echo "# bench/aws/fanout.sh, $(date -u +%Y-%m-%d), $(nproc) cores, USERS=$users, binary $(realpath --relative-to="$target_dir" "$engage" 2>/dev/null || basename "$engage")"
  echo "# the weekly pipeline (threads, 4 predict shards): $weekly_seconds s"
  echo "# predict alone ($reasons reasons), 4 shards, max_concurrency 4 (unsharded: 1 shard); scored rows: $rows"
  printf '%-10s %9s %9s %22s\n' executor seconds "x threads" "overhead/shard (s)"
  echo "$results" | while read -r name secs; do
    overhead=$(printf '%.2f' "$(echo "($secs - $threads) / 4" | bc -l)")
    [ "$name" = unsharded ] && overhead="-"
    printf '%-10s %9.2f %9.2f %22s\n' "$name" "$secs" "$(echo "$secs / $threads" | bc -l)" "$overhead"
  done
} | tee "$results_file"
