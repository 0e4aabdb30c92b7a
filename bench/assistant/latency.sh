#!/usr/bin/env bash
# Answer latency of the assistant's structured questions (tests/assistant/questions.jsonl, the ones keyed by
# SQL or facts) at USERS users and at USERS x FACTOR users (default 100K and 10M), release build.
#
# The big run is made cheaply and honestly: one real weekly run over USERS generated users, then a copy of
# its storage root whose engagement_results table is rebuilt by `engage sql` CTAS over a cross join with
# FACTOR multipliers (user ids renumbered, every other column kept), so the assistant's queries scan
# USERS x FACTOR real rows of the same shape. The knowledge base stays the small run's.
#
# Prints p50/p95/max per answer (in-process, as `engage serve` and `ask --eval` see it) and the wall clock
# of a one-shot `engage ask` process, side by side, with the ratio; writes bench/results/assistant-latency.txt.
#
#   bash bench/assistant/latency.sh                 # 100K vs 10M
#   USERS=20000 FACTOR=10 bash bench/assistant/latency.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
USERS=${USERS:-100000}
FACTOR=${FACTOR:-100}
BIN=${ENGAGE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/engage}
if [ ! -x "$BIN" ]; then
  cargo build --release --workspace
fi
work=${WORK:-$(mktemp -d)}
small="$work/small"
big="$work/big"
export ENGAGE_PLUGIN_DIR=${ENGAGE_PLUGIN_DIR:-${CARGO_TARGET_DIR:-$repo/plugins/target}/wasm32-wasip2/release}
scripts/build-python-plugins.sh "$BIN" >&2
echo "==> work dir $work, engage $BIN"

if [ ! -d "$small/runs" ]; then
  echo "==> a weekly run over $USERS generated users"
  "$BIN" --root "$small" data generate --users "$USERS" --weeks 4 --seed 1 --format parquet --out "$small/landing/users" >/dev/null
  "$BIN" --root "$small" run pipelines/weekly-engagement.toml --no-progress --json >"$work/run.json"
fi
db=$(ls "$small/catalog" | grep '^run_' | sort | tail -1)

python3 - "$repo/tests/assistant/questions.jsonl" "$work/structured.jsonl" <<'EOF'
import json, sys
kept = [l for l in open(sys.argv[1]) if l.strip() and set(json.loads(l)["expect"]) & {"sql", "fact"}]
open(sys.argv[2], "w").writelines(kept)
print(f"==> {len(kept)} structured questions (keyed by SQL or facts)")
EOF

if [ ! -f "$big/.enlarged" ]; then
  echo "==> $((USERS * FACTOR)) users: engagement_results x $FACTOR by CTAS over a cross join"
  rm -rf "$big" && cp -r "$small" "$big"
  sql() { "$BIN" --root "$big" sql "$1" >/dev/null; }
  values=$(seq -s, 0 $((FACTOR - 1)) | sed 's/\([0-9][0-9]*\)/(\1)/g')
  sql "CREATE TABLE $db.multiplier WITH (format = 'PARQUET', external_location = 's3://work/enlarged/multiplier/') AS SELECT k FROM (VALUES $values) AS t(k)"
  sql "CREATE TABLE $db.results_seed WITH (format = 'PARQUET', external_location = 's3://work/enlarged/seed/') AS SELECT * FROM $db.engagement_results"
  sql "DROP TABLE $db.engagement_results"
  columns=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(', '.join('r.' + c['name'] for c in d['columns'] if c['name'] != 'user_id'))" "$big/catalog/$db/results_seed.json")
  digits=$(( ${#USERS} + ${#FACTOR} ))
  [ "$digits" -lt 9 ] && digits=9
  started=$(date +%s)
  sql "CREATE TABLE $db.engagement_results WITH (format = 'PARQUET', external_location = 's3://work/enlarged/engagement_results/') AS
       SELECT concat('u', lpad(CAST(m.k * $USERS + CAST(substr(r.user_id, 2) AS bigint) AS varchar), $digits, '0')) AS user_id, $columns
       FROM $db.results_seed r CROSS JOIN $db.multiplier m"
  echo "    built in $(( $(date +%s) - started )) s"
  touch "$big/.enlarged"
fi
rows=$("$BIN" --root "$big" sql "SELECT count(*) AS n FROM $db.engagement_results" | grep -Eo '[0-9]{5,}' | head -1)
echo "==> the big table holds $rows rows"

measure() { # root name -> JSON {p50, p95, max, correct, questions, cli_p50, cli_max}
  local root=$1 name=$2
  "$BIN" --root "$root" ask --eval "$work/structured.jsonl" --json >"$work/eval-$name.json"
  : >"$work/cli-$name.txt"
  for q in "How many users are likely to disengage next week?" "What share of enterprise users are in the high segment?" \
           "Which country has the highest average probability of engaging?" "What is the score of user u000000042?" "What is the AUC of the model?"; do
    local t0 t1
    t0=$(date +%s%N)
    "$BIN" --root "$root" ask "$q" >/dev/null
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 )) >>"$work/cli-$name.txt"
  done
}
run_id=$(ls "$big/knowledge" | grep '^run=' | sort | tail -1)
facts="$big/knowledge/$run_id/facts.json"
# cube without|with: drop the results cube from the big run's facts (every answer scans the table), or
# rebuild it by running the statement the knowledge step ran (kept in the facts) on the big table.
cube() {
  python3 - "$facts" "$1" "$BIN" "$big" <<'PY'
import json, subprocess, sys
path, mode, binary, root = sys.argv[1:5]
facts = json.load(open(path))
saved = path + ".cube"
cube = facts.pop("results_cube", None) or json.load(open(saved))
json.dump(cube, open(saved, "w"))
if mode == "with":
    out = subprocess.run([binary, "--root", root, "sql", cube["sql"], "--format", "json"], check=True, capture_output=True, text=True).stdout
    rows = [json.loads(l) for l in out.splitlines() if l.strip()]
    cube["rows"] = [[r["segment"], r["plan"], r["country"], int(r["users"]), float(r["probability_sum"])] for r in rows]
    facts["results_cube"] = cube
json.dump(facts, open(path, "w"), indent=2)
PY
}

echo "==> timing at $USERS users"
measure "$small" small
echo "==> timing at $rows users, every answer scanning the results table (no cube)"
cube without
measure "$big" scan
echo "==> timing at $rows users, answers summed from the results cube the knowledge step writes"
started=$(date +%s%N)
cube with
echo "    cube rebuilt on the big table in $(( ($(date +%s%N) - started) / 1000000 )) ms"
measure "$big" big

python3 - "$work" "$USERS" "$rows" "$BIN" <<'EOF' | tee "$repo/bench/results/assistant-latency.txt"
import json, sys, statistics
work, small_n, big_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(name):
    r = json.load(open(f"{work}/eval-{name}.json"))
    cli = sorted(int(x) for x in open(f"{work}/cli-{name}.txt"))
    return r, cli
(s, scli), (n, ncli), (b, bcli) = load("small"), load("scan"), load("big")
print(f"Assistant answer latency, structured questions ({s['questions']} from tests/assistant/questions.jsonl), engage binary: " + sys.argv[4])
print(f"command: bash bench/assistant/latency.sh  (USERS={small_n}, big table {big_n} rows)")
print()
print(f"{'':34}{small_n:>14,}{big_n:>14,}{big_n:>14,}{'ratio':>8}")
print(f"{'':34}{'users':>14}{'users, scan':>14}{'users, cube':>14}{'cube':>8}")
for label, key in [("per answer p50 (ms)", "p50"), ("per answer p95 (ms)", "p95"), ("per answer max (ms)", "max"), ("per answer mean (ms)", "mean")]:
    a, m, c = s["latency_ms"][key], n["latency_ms"][key], b["latency_ms"][key]
    print(f"{label:34}{a:>14.1f}{m:>14.1f}{c:>14.1f}{c / a if a else float('nan'):>7.1f}x")
for label, f in [("one-shot `engage ask` median (ms)", statistics.median), ("one-shot `engage ask` max (ms)", max)]:
    a, m, c = f(scli), f(ncli), f(bcli)
    print(f"{label:34}{a:>14.0f}{m:>14.0f}{c:>14.0f}{c / a if a else float('nan'):>7.1f}x")
print(f"{'correct (keys recomputed per size)':34}{str(s['correct']) + '/' + str(s['questions']):>14}{str(n['correct']) + '/' + str(n['questions']):>14}{str(b['correct']) + '/' + str(b['questions']):>14}")
print("ratio: 10M with the cube against 100K; the scan column is the same 10M table answered by one SQL scan per question")
print()
print("target: < 200 ms per answer at 10M users")
EOF
