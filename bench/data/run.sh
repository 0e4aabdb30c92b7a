#!/usr/bin/env bash
# Generate and ingest throughput (rows/s) and peak RSS at 1M and 10M rows.
# Usage: bench/data/run.sh [engage binary] [scratch dir]
# Build first: cargo build --release -p engage. Scratch data goes to /tmp by default.
set -euo pipefail
BIN=${1:-target/release/engage}
SCRATCH=${2:-/tmp/engage-bench-data}
WEEKS=4
rm -rf "$SCRATCH"; mkdir -p "$SCRATCH"

# Runs a command under /usr/bin/time -v; prints "seconds peak_rss_mib".
measure() {
  local log="$SCRATCH/time.log"
  /usr/bin/time -v "$@" >"$SCRATCH/out.log" 2>"$log" || { cat "$SCRATCH/out.log" "$log" >&2; exit 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
  echo "$wall $rss"
}

printf '%-34s %12s %10s %12s %10s\n' step rows seconds rows/s peak_MiB
row() { printf '%-34s %12d %10.2f %12.0f %10d\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)" "$4"; }

for rows in 1000000 10000000; do
  users=$((rows / WEEKS))
  tag=$((rows / 1000000))M
  read -r s m < <(measure "$BIN" data generate --users "$users" --weeks $WEEKS --format parquet --out "$SCRATCH/pq_$tag")
  row "generate parquet $tag ($WEEKS weeks)" "$rows" "$s" "$m"
  read -r s m < <(measure "$BIN" data generate --users "$users" --weeks $WEEKS --format csv --out "$SCRATCH/csv_$tag")
  row "generate csv $tag ($WEEKS weeks)" "$rows" "$s" "$m"
  # One snapshot file of `rows` rows for ingest: a single week of `rows` users.
  read -r s m < <(measure "$BIN" data generate --users "$rows" --weeks 1 --format csv --out "$SCRATCH/one_$tag")
  read -r s m < <(measure "$BIN" --root "$SCRATCH/root" ingest "$SCRATCH/one_$tag/users_2026-11-22.csv" --table bench_csv)
  row "ingest csv $tag (one file)" "$rows" "$s" "$m"
  read -r s m < <(measure "$BIN" --root "$SCRATCH/root" ingest "$SCRATCH/pq_$tag" --table bench_parquet)
  row "ingest parquet $tag ($WEEKS files)" "$rows" "$s" "$m"
  rm -rf "$SCRATCH/pq_$tag" "$SCRATCH/csv_$tag" "$SCRATCH/one_$tag" "$SCRATCH/root"
done
