#!/usr/bin/env bash
# S3 backend throughput against moto on 127.0.0.1 next to the local directory backend.
#   bench/aws/run.sh [size_mb]     (default 1024; needs ENGAGE_PYTHON with moto[server], as scripts/test.sh makes)
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${ENGAGE_PYTHON:-.venv/bin/python}"
"$python" -c 'import moto' 2>/dev/null || { echo "no moto in $python: pip install -r tests/requirements.txt (or set ENGAGE_PYTHON)" >&2; exit 1; }
target_dir="${CARGO_TARGET_DIR:-target}"
# --workspace, as scripts/test.sh builds: another feature set would compile wasmtime and engage again.
cargo build --release -q --workspace --bin s3-bench
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$python" -c 'from moto.server import main; main()' -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
"$target_dir/release/s3-bench" "http://127.0.0.1:$port" "${1:-1024}"
