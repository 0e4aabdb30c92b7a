#!/usr/bin/env bash
# The weekly job end to end on generated sample data with the local host:
# generate 4 weekly snapshots of a user table into the landing zone, then run
# pipelines/weekly-engagement.toml (ingest, cleanup, prepare, features, train,
# predict, qa-table, aggregate, knowledge, report) and show the results.
set -euo pipefail
cd "$(dirname "$0")/.."
users="${USERS:-100000}"
rustup target add wasm32-wasip2 >/dev/null

echo "==> building the host and the plugins (release)"
(cd plugins && cargo build --release --target wasm32-wasip2 --locked -q)
cargo build --release --locked -q --workspace
target_dir="${CARGO_TARGET_DIR:-target}"
export ENGAGE_PLUGIN_DIR="${CARGO_TARGET_DIR:-$PWD/plugins/target}/wasm32-wasip2/release"
engage="$target_dir/release/engage"

echo "==> the Python feature plugin (componentize-py in .venv, cached by content hash)"
scripts/build-python-plugins.sh "$engage"
export ENGAGE_ROOT="${ENGAGE_ROOT:-$PWD/engage-data}"
landing="$ENGAGE_ROOT/landing/users"

if [ ! -d "$landing" ] || [ -z "$(ls -A "$landing")" ]; then
  echo "==> generating $users users x 4 weekly snapshots into $landing"
  mkdir -p "$landing"
  "$engage" data generate --users "$users" --weeks 4 --seed 1 --format csv --out "$landing"
fi

echo "==> the weekly pipeline"
"$engage" run pipelines/weekly-engagement.toml

echo "==> summary statistics by segment (Athena SQL over the published tables)"
"$engage" sql "SELECT value AS segment, users, round(avg_probability, 3) AS avg_probability
               FROM engagement_summary WHERE dimension = 'segment' ORDER BY avg_probability DESC"
