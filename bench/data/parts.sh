#!/usr/bin/env bash
# Where the generator's time goes (simulation, Parquet writer), on one core.
# Usage: bench/data/parts.sh [cpu]   (USERS=N to change the 1,000,000 rows; GENERATOR_ONLY=1 for the first two parts only)
set -euo pipefail
cd "$(dirname "$0")/../.."
# --workspace, as scripts/test.sh builds: another feature set would compile wasmtime and engage again.
cargo build --release -q --workspace --bin generate-bench
taskset -c "${1:-0}" "${CARGO_TARGET_DIR:-target}/release/generate-bench"
