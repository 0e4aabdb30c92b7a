#!/usr/bin/env bash
# The main job on generated sample data with the local host. Until the weekly
# pipeline lands, this is: generate a sample user table, ingest it (validation,
# quarantine, catalog), run the feature plugin over the newest week, and query
# the result with Athena-dialect SQL.
set -euo pipefail
cd "$(dirname "$0")/.."
users="${USERS:-100000}"
rustup target add wasm32-wasip2 >/dev/null

echo "==> building the host and the plugins (release)"
(cd plugins && cargo build --release --target wasm32-wasip2 -q)
cargo build --release -q -p engage
target_dir="${CARGO_TARGET_DIR:-target}"
plugin_dir="${CARGO_TARGET_DIR:-plugins/target}/wasm32-wasip2/release"
engage="$target_dir/release/engage"
export ENGAGE_ROOT="${ENGAGE_ROOT:-$PWD/engage-data}"
sample="$ENGAGE_ROOT/../engage-sample"

echo "==> generating $users users x 4 weeks into $sample"
rm -rf "$sample" && mkdir -p "$sample"
"$engage" data generate --users "$users" --weeks 4 --seed 1 --format csv --out "$sample"

echo "==> ingesting into $ENGAGE_ROOT"
"$engage" ingest "$sample" --table users

newest="$(ls "$sample"/*.csv* | sort | tail -n 1)"
echo "==> feature plugin over $(basename "$newest")"
"$engage" plugin test "$plugin_dir/engagement_features.wasm" --input "$newest" --output "$ENGAGE_ROOT/features-sample.parquet"

echo "==> weekly label rate by plan (Athena SQL on the local catalog)"
"$engage" sql "SELECT snapshot_date, plan, count(*) AS users, round(avg(engaged_next_7d), 3) AS label_rate
               FROM users GROUP BY 1, 2 ORDER BY 1 DESC, 3 DESC LIMIT 12"
