#!/usr/bin/env bash
# Python plugins against Rust, one transform three ways over the same rows: a Rust guest, a Python
# guest returning a column expression (the host evaluates it), and a Python guest computing per row.
# Also the Python component's size and its cached instantiation time. All three are the scaffold of
# `engage plugin new` (sessions_7d / active_days_7d, 0 without activity). Prints a table.
#   ROWS=1000000 ENGAGE_BIN=target/release/engage bench/plugin/python.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
engage="$(realpath -m "${ENGAGE_BIN:-$target_dir/release/engage}")"
[ -x "$engage" ] || cargo build --release -q --workspace
rows="${ROWS:-1000000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ENGAGE_REPO="$repo" ENGAGE_CACHE_DIR="$work/cache" CARGO_TARGET_DIR="${PLUGIN_TARGET_DIR:-$target_dir}"
"$engage" data generate --users "$rows" --weeks 1 --format parquet --out "$work/data" >/dev/null
input="$(find "$work/data" -name '*.parquet' | head -1)"
cd "$work"
"$engage" plugin new rust-rate --lang rust >/dev/null
"$engage" plugin new py-rate --lang python >/dev/null
"$engage" plugin new py-rows --lang python >/dev/null
# The per-row variant: the same arithmetic in a Python loop.
python3 - <<'PY'
import re
path = "py-rows/app.py"
code = open(path).read()
code = re.sub(r'        return \{"py_rows": .*\}\n',
              '        s, d = batch.values("sessions_7d"), batch.values("active_days_7d")\n'
              '        return {"py_rows": [None if a is None or b is None else (a / b if b > 0 else 0.0) for a, b in zip(s, d)]}\n', code)
open(path, "w").write(code)
PY
for p in rust-rate py-rate py-rows; do
  (cd "$p" && "$engage" plugin build >/dev/null 2>"$work/build.log" && "$engage" plugin test >/dev/null) || { cat "$work/build.log" >&2; exit 1; }
done
# Best of 3 runs, after one that fills the compiled-component cache.
measure() {
  local wasm="$1" best="" inst=""
  "$engage" plugin test "$wasm" --input "$input" >/dev/null
  for _ in 1 2 3; do
    out="$("$engage" plugin test "$wasm" --input "$input")"
    t="$(awk '/^transform/ {print $2}' <<<"$out")"
    i="$(awk '/^instantiate/ {print $2}' <<<"$out")"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best="$t"; fi
    if [ -z "$inst" ] || awk "BEGIN{exit !($i < $inst)}"; then inst="$i"; fi
  done
  echo "$best $inst"
}
read -r rust rust_inst <<<"$(measure rust-rate/build/rust-rate.wasm)"
read -r pycol py_inst <<<"$(measure py-rate/build/py-rate.wasm)"
read -r pyrow _ <<<"$(measure py-rows/build/py-rows.wasm)"
size="$(stat -c %s py-rate/build/py-rate.wasm)"
printf '%-44s %12s %10s\n' "transform over $rows rows" "ms" "vs Rust"
printf '%-44s %12.1f %9.2fx\n' "Rust guest (Arrow IPC)" "$rust" 1
printf '%-44s %12.1f %9.2fx   (target <= 1.5x)\n' "Python, column expression" "$pycol" "$(awk "BEGIN{print $pycol/$rust}")"
printf '%-44s %12.1f %9.2fx\n' "Python, per row" "$pyrow" "$(awk "BEGIN{print $pyrow/$rust}")"
printf '%-44s %12.1f MB   (target < 25 MB)\n' "Python component size" "$(awk "BEGIN{print $size/1e6}")"
printf '%-44s %12.2f ms   (target < 5 ms; Rust guest %s ms)\n' "Python instantiate, cached component" "$py_inst" "$rust_inst"
