#!/usr/bin/env bash
# Builds the container image (Dockerfile): the host for x86_64-unknown-linux-musl (static),
# the plugin components, precompiled by that same binary into a component cache, staged in
# $CARGO_TARGET_DIR/image/ with the pipelines and example configs, then `podman build`.
#   IMAGE=engage:latest scripts/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
image="${IMAGE:-engage:latest}"
target="${CARGO_TARGET_DIR:-$root/target}"
musl=x86_64-unknown-linux-musl

echo "==> toolchain: $musl and wasm32-wasip2 targets, musl-gcc, podman + runc"
rustup target add "$musl" wasm32-wasip2 >/dev/null
need=()
command -v musl-gcc >/dev/null || need+=(musl-tools)
command -v podman >/dev/null || need+=(podman)
command -v strip >/dev/null || need+=(binutils)
command -v runc >/dev/null || need+=(runc)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "==> engage for $musl (static)"
start=$(date +%s)
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked -p engage --target "$musl"
echo "    musl build took $(( $(date +%s) - start )) s"
bin="$target/$musl/release/engage"

echo "==> plugins (wasm32-wasip2)"
(cd plugins && cargo build --release --locked --target wasm32-wasip2 -q)

stage="$target/image"
rm -rf "$stage"
mkdir -p "$stage/plugins" "$stage/cache" "$stage/etc"
# Line tables stay in the release build for local backtraces; the image needs only the symbols (about 1 GB -> 200 MB).
strip --strip-debug -o "$stage/engage" "$bin"
for p in engagement_features activity_features monetary_features support_features cleanup prepare qa_table aggregate; do
  cp "$target/wasm32-wasip2/release/$p.wasm" "$stage/plugins/"
done
echo "==> the Python feature plugin (componentize-py in .venv, cached by content hash)"
ENGAGE_PLUGIN_DIR="$stage/plugins" scripts/build-python-plugins.sh "$bin"
echo "==> precompiling the components with the image's own engage"
"$stage/engage" plugin precompile --plugins "$stage/plugins" --cache-dir "$stage/cache"
cp -r pipelines config "$stage/"
cp /etc/ssl/certs/ca-certificates.crt "$stage/etc/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nengage:x:65532:65532:engage:/tmp:/sbin/nologin\n' > "$stage/etc/passwd"
printf 'root:x:0:\nengage:x:65532:\n' > "$stage/etc/group"
chmod -R a+rX "$stage"

echo "==> podman build $image"
podman --storage-driver vfs build --quiet -f Dockerfile -t "$image" "$stage" >/dev/null
# The previous build's layers, now untagged, would otherwise pile up build after build.
podman --storage-driver vfs image prune --force >/dev/null
podman --storage-driver vfs image inspect "$image" --format '{{.Size}}' | awk '{printf "    image size: %.1f MB\n", $1 / 1e6}'
