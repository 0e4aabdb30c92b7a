#!/usr/bin/env bash
# Builds every Python plugin under plugins/features/ (language = "python" in its plugin.toml)
# with `engage plugin build` (componentize-py) into $ENGAGE_PLUGIN_DIR/<name with - as _>.wasm,
# beside the Rust components. A build is cached by the hash of what goes into it (the plugin's
# files, the Python SDK, the WIT, the componentize-py version), so an unchanged plugin costs a copy.
#
#   scripts/build-python-plugins.sh ENGAGE_BINARY   (needs ENGAGE_PLUGIN_DIR; installs componentize-py
#                                                     into .venv unless ENGAGE_COMPONENTIZE_PY names one)
set -euo pipefail
cd "$(dirname "$0")/.."
engage="$(realpath "$1")"
: "${ENGAGE_PLUGIN_DIR:?set ENGAGE_PLUGIN_DIR to the folder of plugin components}"
cache="${ENGAGE_PY_PLUGIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/engage/python-plugins}"
mkdir -p "$cache" "$ENGAGE_PLUGIN_DIR"
componentize="${ENGAGE_COMPONENTIZE_PY:-$PWD/.venv/bin/componentize-py}"
if [ -z "${ENGAGE_COMPONENTIZE_PY:-}" ] && [ ! -x "$componentize" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check componentize-py==0.25.1
fi
[ -x "$componentize" ] || { echo "componentize-py not found at $componentize: pip install componentize-py==0.25.1 into .venv" >&2; exit 1; }
tool_version="$("$componentize" --version)"
for manifest in plugins/features/*/plugin.toml; do
  grep -q '^language = "python"' "$manifest" || continue
  folder="$(dirname "$manifest")"
  name="$(grep -m1 '^name = ' "$manifest" | cut -d'"' -f2)"
  hash="$( (echo "$tool_version"; find "$folder" plugins/python-sdk wit -type f \( -name '*.py' -o -name '*.toml' -o -name '*.wit' \) \
            -not -path '*/build/*' -not -path '*/__pycache__/*' | sort | xargs sha256sum) | sha256sum | cut -c1-32)"
  out="$ENGAGE_PLUGIN_DIR/${name//-/_}.wasm"
  if [ -f "$cache/$hash.wasm" ]; then
    echo "    $name: cached ($hash)"
  else
    (cd "$folder" && ENGAGE_COMPONENTIZE_PY="$componentize" "$engage" plugin build . >/dev/null)
    cp "$folder/build/$name.wasm" "$cache/$hash.wasm.tmp" && mv "$cache/$hash.wasm.tmp" "$cache/$hash.wasm"
    echo "    $name: built ($hash)"
  fi
  cp "$cache/$hash.wasm" "$out"
done
