#!/usr/bin/env bash
# Runs every test: installs what the tests need (the wasm32-wasip2 target, a
# Python venv with xgboost/lightgbm for the interop tests), builds the plugin
# components, then runs the Rust test suites of the whole workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

echo "==> toolchain: wasm32-wasip2 target"
rustup target add wasm32-wasip2 >/dev/null

echo "==> python test dependencies (.venv)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export ENGAGE_PYTHON="$root/.venv/bin/python"

echo "==> node test tools (asl-validator, tests/node)"
if ! command -v npm >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x tests/node/node_modules/.bin/asl-validator ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "==> headless Chromium (the web app test)"
if ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

plugin_target="${CARGO_TARGET_DIR:-$root/plugins/target}"
echo "==> plugins (wasm32-wasip2, release)"
(cd plugins && cargo build --release --target wasm32-wasip2 --locked -q)
export ENGAGE_PLUGIN_DIR="$plugin_target/wasm32-wasip2/release"

echo "==> Python plugins (componentize-py, cached by content hash)"
# The whole workspace, not `-p engage`: the plugin SDK in the bench crate turns on features of
# wasmtime's build-time dependencies, and building with a different set compiles wasmtime and
# engage a second time. `cargo test --workspace` below reuses this build.
cargo build --locked -q --workspace
scripts/build-python-plugins.sh "${CARGO_TARGET_DIR:-$root/target}/debug/engage"
for p in engagement_features activity_features messaging_features monetary_features support_features cleanup prepare qa_table aggregate misbehave bad_transform old_wit label_reader; do
  [ -f "$ENGAGE_PLUGIN_DIR/$p.wasm" ] || { echo "plugin build failed: $ENGAGE_PLUGIN_DIR/$p.wasm missing" >&2; exit 1; }
done

echo "==> plugin SDK unit tests (native)"
(cd plugins && cargo test -p engage-plugin-sdk --features stage --lib --locked -q)

if [ "${ENGAGE_TEST_IMAGE:-0}" = 1 ]; then
  # The Fargate image, built and then run by host/tests/image.rs. Opt-in: it adds the release
  # build of the host beside the test build (and podman); CI sets it.
  echo "==> the container image (podman)"
  IMAGE=engage:test scripts/build-image.sh
  export ENGAGE_IMAGE=engage:test
fi

echo "==> cargo test (workspace)"
export ENGAGE_CACHE_DIR="${ENGAGE_CACHE_DIR:-$(mktemp -d)}"
cargo test --workspace --locked "$@"
