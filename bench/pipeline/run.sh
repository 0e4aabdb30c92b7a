#!/usr/bin/env bash
# The weekly pipeline end to end on the local host: wall time, peak RSS and time
# per stage at 100K users (target < 10 s) and 10M users (target < 5 min, peak RSS
# < 8 GB), each over 4 weekly snapshots (3 labelled for training, the newest scored).
# Usage: bench/pipeline/run.sh [users ...]   (default: 100000 10000000)
# Writes bench/results/pipeline.json. Generation is timed apart: it is not the job.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(100000 10000000)
weeks=4
scratch="${ENGAGE_BENCH_DIR:-/tmp/engage-bench-pipeline}"

rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
(cd plugins && cargo build --release --target wasm32-wasip2 -q)
cargo build --release -q -p engage
target_dir="${CARGO_TARGET_DIR:-target}"
export ENGAGE_PLUGIN_DIR="${CARGO_TARGET_DIR:-plugins/target}/wasm32-wasip2/release"
engage="$PWD/$target_dir/release/engage"
[ -x "$engage" ] || engage="$target_dir/release/engage"

results="[]"
for users in "${sizes[@]}"; do
  root="$scratch/root-$users"
  rm -rf "$root" && mkdir -p "$root/landing/users"
  echo "==> $users users x $weeks weeks: generating (not timed as part of the job)" >&2
  "$engage" data generate --users "$users" --weeks "$weeks" --seed 7 --format parquet --out "$root/landing/users" >/dev/null

  echo "==> running the weekly pipeline" >&2
  /usr/bin/time -v "$engage" --root "$root" run pipelines/weekly-engagement.toml --json --no-progress \
    >"$scratch/summary-$users.json" 2>"$scratch/time-$users.log" || { tail -n 40 "$scratch/time-$users.log" >&2; exit 1; }
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$scratch/time-$users.log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$scratch/time-$users.log")
  results=$(python3 - "$users" "$wall" "$rss" "$scratch/summary-$users.json" "$results" <<'PY'
import json, sys
users, wall, rss, path, acc = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], json.loads(sys.argv[5])
summary = json.load(open(path))
target_s = 10 if users <= 100_000 else 300
stages = [{"stage": s["name"], "seconds": s.get("seconds"), "rows_out": s.get("rows_out")} for s in summary.get("stages", [])]
acc.append({"users": users, "wall_seconds": wall, "target_seconds": target_s, "within_target": wall < target_s,
            "peak_rss_mib": rss, "rss_target_mib": 8192, "auc": (summary.get("model") or {}).get("auc"), "baseline_auc": (summary.get("model") or {}).get("baseline_auc"),
            "stages": stages})
print(json.dumps(acc))
PY
)
  rm -rf "$root"
done

mkdir -p bench/results
python3 - "$results" <<'PY'
import json, sys
runs = json.loads(sys.argv[1])
json.dump(runs, open("bench/results/pipeline.json", "w"), indent=2)
for r in runs:
    print(f"\n{r['users']:,} users: {r['wall_seconds']:.1f} s (target < {r['target_seconds']} s: "
          f"{'met' if r['within_target'] else 'MISSED'}), peak RSS {r['peak_rss_mib']:,} MiB (target < 8,192), "
          f"AUC {r['auc']} vs baseline {r['baseline_auc']}")
    print(f"  {'stage':<14} {'seconds':>9} {'rows out':>12}")
    for s in r["stages"]:
        sec = s["seconds"]
        print(f"  {s['stage']:<14} {sec if sec is None else round(sec, 2):>9} {s['rows_out'] or 0:>12,}")
PY
