#!/usr/bin/env bash
# A clean build, timed: the plugins (wasm32-wasip2) and the workspace (host, boost, bench), both
# release, into a new empty target dir, with cargo's per-crate timing report. Crates are
# fetched first, untimed, so that downloads do not count.
#   bench/build/clean.sh            # TARGET=/some/dir to keep the build somewhere else
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${TARGET:-$(mktemp -d /tmp/engage-clean-build.XXXX)}"
[ -z "$(ls -A "$target" 2>/dev/null)" ] || { echo "clean.sh: $target is not empty" >&2; exit 2; }
export CARGO_TARGET_DIR="$target"
rustup target add wasm32-wasip2 >/dev/null
cargo fetch --locked -q
(cd plugins && cargo fetch --locked -q)

timed() {
  local label=$1; shift
  local start=$SECONDS
  "$@"
  printf '%-28s %6d s\n' "$label" $((SECONDS - start)) >> "$target/build-times.txt"
}
timed "plugins (wasm32-wasip2)" bash -c 'cd plugins && cargo build --release --target wasm32-wasip2 --locked -q'
timed "workspace (release)" cargo build --release --locked --workspace -q --timings

echo
cat "$target/build-times.txt"
awk '{ s += $(NF-1) } END { printf "%-28s %6d s (%.1f min)\n", "total", s, s / 60 }' "$target/build-times.txt"
printf 'release binary: %s MB\n' $(( $(stat -c %s "$target/release/engage") / 1000000 ))
echo "per-crate timings: $(ls "$target"/cargo-timings/cargo-timing-*.html)"
