#!/usr/bin/env bash
# Ingest throughput, side by side: two engage binaries ingest the same generated
# CSV snapshots, alternately, twice each; prints wall and CPU seconds, rows/s and
# peak RSS per run, and the new/old speed ratio of the best runs.
# Usage: bench/data/ingest.sh OLD_BINARY NEW_BINARY [users] [weeks] [scratch dir]
# The machine is shared: read the ratio, run by run.
set -euo pipefail
OLD=$1; NEW=$2
USERS=${3:-250000}; WEEKS=${4:-4}
SCRATCH=${5:-/tmp/engage-bench-ingest}
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH"
"$NEW" data generate --users "$USERS" --weeks "$WEEKS" --format csv --out "$SCRATCH/landing" >/dev/null
rows=$((USERS * WEEKS))
printf '%-6s %5s %10s %9s %9s %12s %9s\n' binary round rows wall_s cpu_s rows_per_s rss_MiB
declare -A best=([old]=999999 [new]=999999)
for round in 1 2; do
  for which in old new; do
    bin=$OLD; [ "$which" = new ] && bin=$NEW
    root="$SCRATCH/root-$which"; rm -rf "$root"
    /usr/bin/time -f "%e %U %S %M" -o "$SCRATCH/time" "$bin" --root "$root" ingest "$SCRATCH/landing" --table users >/dev/null
    read -r wall user sys rss < "$SCRATCH/time"
    printf '%-6s %5d %10d %9.2f %9.2f %12.0f %9.0f\n' "$which" "$round" "$rows" "$wall" "$(echo "$user + $sys" | bc)" \
      "$(echo "$rows / $wall" | bc -l)" "$(echo "$rss / 1024" | bc)"
    if (( $(echo "$wall < ${best[$which]}" | bc) )); then best[$which]=$wall; fi
  done
done
printf 'best wall: old %.2f s, new %.2f s; new is %.2fx the speed of old\n' "${best[old]}" "${best[new]}" "$(echo "${best[old]} / ${best[new]}" | bc -l)"
rm -rf "$SCRATCH"
