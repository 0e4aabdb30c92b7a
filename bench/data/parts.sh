#!/usr/bin/env bash
# Where the generator's time goes (simulation, Parquet writer), on one core.
# Usage: bench/data/parts.sh [cpu]   (USERS=N to change the 1,000,000 rows; GENERATOR_ONLY=1 for the first two parts only)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p engage-bench --bin generate-bench
taskset -c "${1:-0}" "${CARGO_TARGET_DIR:-target}/release/generate-bench"
