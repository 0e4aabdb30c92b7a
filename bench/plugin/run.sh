#!/usr/bin/env bash
# The plugin boundary benchmark: prints a table and writes bench/results/plugin.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
(cd plugins && cargo build --release --target wasm32-wasip2 -q)
target_dir="${CARGO_TARGET_DIR:-target}"
plugin_target="${CARGO_TARGET_DIR:-plugins/target}"
cargo build --release -q -p engage-bench --bin plugin-bench
ENGAGE_PLUGIN_DIR="$plugin_target/wasm32-wasip2/release" "$target_dir/release/plugin-bench"
