#!/usr/bin/env bash
# Generator throughput, side by side: rows/s on one core (taskset -c 0), CPU
# seconds, peak RSS and output size, for two binaries at 1M and 10M rows.
# Usage: bench/data/generate.sh OLD_BINARY NEW_BINARY [scratch dir] [cpu list]
# The machine is shared: compare the ratio of the two columns, run by run.
set -euo pipefail
OLD=$1; NEW=$2
SCRATCH=${3:-/tmp/engage-bench-generate}
CPUS=${4:-0}
mkdir -p "$SCRATCH"
printf '%-8s %-8s %8s %-4s %9s %9s %12s %9s %10s\n' binary format rows unit wall_s cpu_s rows_per_s rss_MiB size_MiB
for rows in 1000000 10000000; do
  for format in parquet csv; do
    for which in old new; do
      bin=$OLD; [ "$which" = new ] && bin=$NEW
      out="$SCRATCH/$which"; rm -rf "$out"
      /usr/bin/time -f "%e %U %S %M" -o "$SCRATCH/time" taskset -c "$CPUS" "$bin" data generate --users "$rows" --weeks 1 --format "$format" --out "$out" >/dev/null
      read -r wall user sys rss < "$SCRATCH/time"
      size=$(du -sb "$out" | cut -f1)
      printf '%-8s %-8s %8d %-4s %9.2f %9.2f %12.0f %9.0f %10.1f\n' "$which" "$format" "$rows" cpu"$CPUS" "$wall" "$(echo "$user + $sys" | bc)" \
        "$(echo "$rows / $wall" | bc -l)" "$(echo "$rss / 1024" | bc)" "$(echo "$size / 1048576" | bc -l)"
      rm -rf "$out"
    done
  done
done
