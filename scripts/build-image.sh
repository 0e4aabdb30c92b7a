#!/usr/bin/env bash
# Builds the container image (Dockerfile): the release host with the few shared libraries it
# links (glibc, libm, libgcc_s, the loader), the plugin components, precompiled by that same
# binary into a component cache, staged in $CARGO_TARGET_DIR/image/ with the pipelines and
# example configs, then `podman build`. The binary is the ordinary release build, so the image
# costs no second compile of the host (a static musl build was one: 45 min from cold on 2 cores).
#   IMAGE=engage:latest scripts/build-image.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
image="${IMAGE:-engage:latest}"
target="${CARGO_TARGET_DIR:-$root/target}"

echo "==> toolchain: wasm32-wasip2 target, podman + runc"
rustup target add wasm32-wasip2 >/dev/null
need=()
command -v podman >/dev/null || need+=(podman)
command -v strip >/dev/null || need+=(binutils)
command -v runc >/dev/null || need+=(runc)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "==> engage (release)"
start=$(date +%s)
# The workspace's feature set, as scripts/test.sh builds it: `-p engage` alone would compile wasmtime again.
cargo build --release --locked --workspace
echo "    release build took $(( $(date +%s) - start )) s"
bin="$target/release/engage"

echo "==> plugins (wasm32-wasip2)"
(cd plugins && cargo build --release --locked --target wasm32-wasip2 -q)

stage="$target/image"
rm -rf "$stage"
mkdir -p "$stage/plugins" "$stage/cache" "$stage/etc" "$stage/libs"
# Line tables stay in the release build for local backtraces; the image needs only the symbols (280 -> 190 MB).
strip --strip-debug -o "$stage/engage" "$bin"
# The shared libraries the binary links, and the loader, at the paths it asks for (FROM scratch has none).
ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
  mkdir -p "$stage/libs/$(dirname "$lib")"
  cp -L "$lib" "$stage/libs/$lib"
done
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
