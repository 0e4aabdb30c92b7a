#!/usr/bin/env bash
# The plugin boundary benchmark: prints a table and writes bench/results/plugin.json.
# PLUGIN_TARGET_DIR: where the wasm guests are built (default: $CARGO_TARGET_DIR, else plugins/target).
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
target_dir="${CARGO_TARGET_DIR:-target}"
plugin_target="$(realpath -m "${PLUGIN_TARGET_DIR:-${CARGO_TARGET_DIR:-plugins/target}}")"
(cd plugins && CARGO_TARGET_DIR="$plugin_target" cargo build --release --target wasm32-wasip2 -q)
# The boundary-only guest (its own workspace; same target dir, so the dependencies are shared).
(cd bench/plugin/identity && CARGO_TARGET_DIR="$plugin_target" cargo build --release --target wasm32-wasip2 -q)
# --workspace, as scripts/test.sh builds: another feature set would compile wasmtime and engage again.
cargo build --release -q --workspace --bin plugin-bench
ENGAGE_PLUGIN_DIR="$plugin_target/wasm32-wasip2/release" "$target_dir/release/plugin-bench"
