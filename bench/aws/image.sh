#!/usr/bin/env bash
# The Fargate image's size and task start to first stage: `podman run` of the
# weekly pipeline (network off, read-only root, storage root mounted), timed from
# just before `podman run` to the run's start and to the first plugin stage's first
# attempt (components come precompiled in the image, so none is compiled).
# Usage: IMAGE=engage:latest USERS=20000 bench/aws/image.sh   (build it with scripts/build-image.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
image="${IMAGE:-engage:latest}"
users="${USERS:-20000}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/tests/support/containers.conf}"
podman=(podman --storage-driver vfs --runtime runc --cgroup-manager cgroupfs --events-backend file)
data=$(mktemp -d)/data
mkdir -p "$data" && chown 65532:65532 "$data"
trap 'rm -rf "$(dirname "$data")"' EXIT
run() { "${podman[@]}" run --rm --network none --read-only -v "$data:/data" -e ENGAGE_ROOT=/data "$image" "$@"; }

"${podman[@]}" image inspect "$image" --format '{{.Size}}' | awk '{printf "image size: %.1f MB\n", $1 / 1e6}'
t0=$(date +%s.%N); "${podman[@]}" run --rm --network none --read-only "$image" --version >/dev/null
echo "podman run .. --version: $(echo "$(date +%s.%N) - $t0" | bc) s"
run data generate --users "$users" --weeks 4 --seed 3 --out /data/landing/users >/dev/null 2>&1
t0=$(date +%s.%N)
run run /opt/engage/pipelines/weekly-engagement.toml --json --no-progress >/dev/null 2>"$(dirname "$data")/run.log"
end=$(date +%s.%N)
python3 - "$data" "$t0" "$end" <<'PY'
import datetime, glob, json, sys
data, t0, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
run = json.load(open([p for p in glob.glob(data + "/runs/*/run.json")][0]))
ts = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
plugin = next(s for s in run["stages"] if s["kind"].startswith("plugin"))
print(f"task start -> run start: {ts(run['started']) - t0:.2f} s")
print(f"task start -> first plugin stage ({plugin['name']}) attempt: {ts(plugin['attempts'][0]['started']) - t0:.2f} s")
print(f"task start -> exit: {end - t0:.2f} s (the run itself: {ts(run['ended']) - ts(run['started']):.2f} s)")
PY
