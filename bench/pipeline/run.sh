#!/usr/bin/env bash
# The weekly pipeline end to end on the local host: wall time, peak RSS and time
# per stage at 100K users (target < 10 s) and 10M users (target < 5 min, peak RSS
# < 8 GB), each over 4 weekly snapshots (3 labelled for training, the newest scored).
# Usage: bench/pipeline/run.sh [users ...]   (default: 100000 10000000)
# Writes bench/results/pipeline.json (sizes and modes not run keep their earlier
# figures). Generation is timed apart: it is not the job, and neither is compiling
# the components (done first, as an installed host has them in its cache).
# The process's resident memory is sampled every 200 ms, so each stage reports the
# peak seen while it ran (stages that overlap share their peaks).
# Two modes per size (ENGAGE_BENCH_MODES, default "cold weekly"): cold starts from an
# empty storage root, so the run ingests all 4 snapshots; weekly has the 3 older ones
# already ingested (as last week's runs left them), so the run ingests only the newest
# one, as a scheduled weekly run does.
# ENGAGE_BENCH_KEEP=1 keeps the generated snapshots of each size for the next run.
# Runs of 1M users or more use predict's path attribution for the per-user reasons
# (reasons_method=path), as the pipeline file advises: exact TreeSHAP for 10M users
# costs about 18 min on 2 cores. Smaller runs keep the exact default.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100000 10000000)
weeks=4
modes="${ENGAGE_BENCH_MODES:-cold weekly}"
scratch="${ENGAGE_BENCH_DIR:-/tmp/engage-bench-pipeline}"

rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
(cd plugins && cargo build --release --target wasm32-wasip2 -q)
cargo build --release -q --workspace
target_dir="${CARGO_TARGET_DIR:-target}"
export ENGAGE_PLUGIN_DIR="${CARGO_TARGET_DIR:-plugins/target}/wasm32-wasip2/release"
engage="$PWD/$target_dir/release/engage"
[ -x "$engage" ] || engage="$target_dir/release/engage"
scripts/build-python-plugins.sh "$engage" >&2
# Compile every component into the cache first (untimed), as an installed host has them:
# "cold" below means an empty storage root, not a first-ever start of the engine.
pipeline_plugins=$(mktemp -d)
for p in cleanup prepare activity_features messaging_features monetary_features support_features qa_table aggregate; do
  ln -s "$(realpath "$ENGAGE_PLUGIN_DIR/$p.wasm")" "$pipeline_plugins/"
done
"$engage" plugin precompile --plugins "$pipeline_plugins" >/dev/null
rm -rf "$pipeline_plugins"

# Prints "<unix seconds> <RSS KiB>" of engage (the child of /usr/bin/time) every 200 ms until it exits.
sample_rss() {
  local parent=$1 pid=""
  while kill -0 "$parent" 2>/dev/null; do
    [ -n "$pid" ] || pid=$(pgrep -P "$parent" engage | head -n1 || true)
    if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
      awk -v t="$(date +%s.%N)" '/^VmRSS:/ {print t, $2}' "/proc/$pid/status" 2>/dev/null || true
    fi
    sleep 0.2
  done
}

results="[]"
for users in "${sizes[@]}"; do
  root="$scratch/root-$users"
  landing="$scratch/landing-$users"
  if [ ! -f "$landing/.complete" ]; then
    rm -rf "$landing" && mkdir -p "$landing"
    echo "==> $users users x $weeks weeks: generating (not timed as part of the job)" >&2
    "$engage" data generate --users "$users" --weeks "$weeks" --seed 7 --format parquet --out "$landing" >/dev/null
    touch "$landing/.complete"
  fi
  for mode in $modes; do
    rm -rf "$root" && mkdir -p "$root/landing/users"
    cp -p "$landing"/*.parquet "$root/landing/users/"
    if [ "$mode" = weekly ]; then
      # Last week's runs took in the older snapshots: ingest them now, untimed; the
      # run's ingest stage then skips them (unchanged files) and takes only the newest.
      echo "==> weekly mode: ingesting the $((weeks - 1)) older snapshots first (not timed)" >&2
      for f in $(ls "$root"/landing/users/*.parquet | sort | head -n $((weeks - 1))); do
        "$engage" --root "$root" ingest "$f" --table users >/dev/null
      done
    fi

    reasons=exact; [ "$users" -ge 1000000 ] && reasons=path
    echo "==> $users users, $mode: running the weekly pipeline (reasons_method=$reasons)" >&2
    /usr/bin/time -v "$engage" --root "$root" run pipelines/weekly-engagement.toml --json --no-progress --set "reasons_method=$reasons" \
      >"$scratch/summary-$users-$mode.json" 2>"$scratch/time-$users-$mode.log" &
    timer=$!
    sample_rss "$timer" >"$scratch/rss-$users-$mode.tsv" &
    sampler=$!
    status=0; wait "$timer" || status=$?
    wait "$sampler" || true
    [ "$status" -eq 0 ] || { tail -n 40 "$scratch/time-$users-$mode.log" >&2; exit 1; }
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$scratch/time-$users-$mode.log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$scratch/time-$users-$mode.log")
    run_json=$(ls -d "$root"/runs/*/run.json | grep -v latest | head -n1)
    results=$(python3 - "$users" "$wall" "$rss" "$scratch/summary-$users-$mode.json" "$results" "$run_json" "$scratch/rss-$users-$mode.tsv" "$reasons" "$mode" <<'PY'
import json, sys
from datetime import datetime
users, wall, rss, path, acc = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
record, samples = json.load(open(sys.argv[6])), [tuple(map(float, l.split())) for l in open(sys.argv[7]) if l.strip()]
summary = json.load(open(path))
target_s = 10 if users <= 100_000 else 300
def seconds(t): return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
def stage_peak(name):
    st = next((s for s in record["stages"] if s["name"] == name), None)
    if not st or not st.get("started") or not st.get("ended"): return None
    a, b = seconds(st["started"]), seconds(st["ended"])
    seen = [kib for t, kib in samples if a - 0.2 <= t <= b + 0.2]
    return round(max(seen) / 1024) if seen else None
stages = [{"stage": s["name"], "seconds": s.get("seconds"), "rows_out": s.get("rows_out"), "peak_rss_mib": stage_peak(s["name"])} for s in summary.get("stages", [])]
acc.append({"users": users, "mode": sys.argv[9], "wall_seconds": wall, "target_seconds": target_s, "within_target": wall < target_s,
            "peak_rss_mib": rss, "rss_target_mib": 8192, "auc": (summary.get("model") or {}).get("auc"), "baseline_auc": (summary.get("model") or {}).get("baseline_auc"),
            "reasons_method": sys.argv[8], "stages": stages})
print(json.dumps(acc))
PY
    )
    rm -rf "$scratch/runs-$users-$mode" && cp -r "$root/runs" "$scratch/runs-$users-$mode"  # stage summaries, for a closer look
    rm -rf "$root"
  done
  [ "${ENGAGE_BENCH_KEEP:-0}" = 1 ] || rm -rf "$landing"
done

mkdir -p bench/results
python3 - "$results" <<'PY'
import json, sys
runs = json.loads(sys.argv[1])
# Sizes and modes not measured this time keep their earlier figures.
try:
    earlier = json.load(open("bench/results/pipeline.json"))
except (OSError, ValueError):
    earlier = []
measured = {(r["users"], r.get("mode")) for r in runs}
runs = sorted([r for r in earlier if (r["users"], r.get("mode")) not in measured] + runs, key=lambda r: (r["users"], r.get("mode") != "cold"))
json.dump(runs, open("bench/results/pipeline.json", "w"), indent=2)
for r in runs:
    print(f"\n{r['users']:,} users, {r.get('mode')}: {r['wall_seconds']:.1f} s (target < {r['target_seconds']} s: "
          f"{'met' if r['within_target'] else 'MISSED'}), peak RSS {r['peak_rss_mib']:,} MiB (target < 8,192), "
          f"AUC {r['auc']} vs baseline {r['baseline_auc']}, reasons {r.get('reasons_method')}")
    print(f"  {'stage':<14} {'seconds':>9} {'rows out':>12} {'peak RSS MiB':>13}")
    for s in r["stages"]:
        sec, peak = s["seconds"], s.get("peak_rss_mib")
        print(f"  {s['stage']:<14} {sec if sec is None else round(sec, 2):>9} {s['rows_out'] or 0:>12,} {peak if peak is not None else '-':>13}")
PY
