#!/usr/bin/env bash
# The Kubernetes path, here: runs the N shard processes of a partitioned scenario with the
# environment an Indexed Job's pods get (JOB_COMPLETION_INDEX, `sim run --shard-count N`), at
# most JOBS at a time, then merges them (`sim merge`), as deploy/k8s/ does with pods. Prints each
# shard's wall time and peak RSS (GNU time) and the merge's; with --check, also runs the
# scenario in one process and says whether the merged report.json is byte-identical to it.
# Every bank of the scenario needs `[banks.service] partitions = N`.
# Usage: bench/shards.sh N SCENARIO [--jobs J] [--out DIR] [--check] [-- SIM_RUN_FLAGS...]
#   e.g. sed 's/^\[banks\.service\]$/&\npartitions = 4/' scenarios/messenger-2018.toml > /tmp/m4.toml
#        bench/shards.sh 4 /tmp/m4.toml --check
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
usage="usage: bench/shards.sh N SCENARIO [--jobs J] [--out DIR] [--check] [-- SIM_RUN_FLAGS...]"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
count=$1
scenario=$2
shift 2
jobs=$(nproc)
out=reports/shards-$(basename "$scenario" .toml)
check=false
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --jobs|--out) [ $# -ge 2 ] || { echo "bench/shards.sh: $1 needs a value; $usage" >&2; exit 2; }
      if [ "$1" = --jobs ]; then jobs=$2; else out=$2; fi
      shift 2 ;;
    --check) check=true; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench/shards.sh: unknown argument $1; $usage" >&2; exit 2 ;;
  esac
done
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "bench/shards.sh: N = $count; allowed a whole number >= 1" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "bench/shards.sh: --jobs $jobs; allowed a whole number >= 1" >&2; exit 2; }
# Paths are the caller's: relative ones from where the script was run.
absolute() { case $1 in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }
scenario=$(absolute "$scenario")
out=$(absolute "$out")
[ -f "$scenario" ] || { echo "bench/shards.sh: $scenario: no such file" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
# SIM names a sim binary to use instead of building the release one (.ci/shards uses the test build).
if [ -n "${SIM:-}" ]; then
  sim=$(absolute "$SIM")
else
  cargo build --release -q -p sim --locked
  sim=target/release/sim
fi
# Only what this script writes is replaced in --out: shards/, logs/, merged/, whole/.
rm -rf "$out/shards" "$out/logs" "$out/merged" "$out/whole"
mkdir -p "$out/shards" "$out/logs"

# Shard i, as pod i of the Indexed Job runs it.
run_shard() {
  local i=$1
  JOB_COMPLETION_INDEX=$i /usr/bin/time -f "shard $i/$count: wall %e s, peak RSS %M KB" -o "$out/logs/$i.time" \
    "$sim" run "$scenario" --shard-count "$count" --out "$out/shards/$i" --quiet "${extra[@]}" \
    > "$out/logs/$i.out" 2> "$out/logs/$i.err"
}

echo "$count shards of $scenario, $jobs at a time"
start=$(date +%s.%N)
# Shard 0 first, alone: a scenario that cannot run in N shards fails once, in one line naming
# the key, not N times.
set +e
run_shard 0
first=$?
set -e
if [ "$first" -ne 0 ]; then
  cat "$out/logs/0.err" >&2
  exit "$first"
fi
failed=0
running=0
for ((i = 1; i < count; i++)); do
  run_shard "$i" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=$((failed + 1))
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=$((failed + 1))
  running=$((running - 1))
done
end=$(date +%s.%N)
for ((i = 0; i < count; i++)); do
  cat "$out/logs/$i.time" 2>/dev/null | tail -1
  [ -s "$out/logs/$i.err" ] && sed "s/^/  shard $i: /" "$out/logs/$i.err"
done
if [ "$failed" -gt 0 ]; then
  echo "$failed of $count shards failed (logs in $out/logs/)" >&2
  exit 1
fi
awk -v s="$start" -v e="$end" 'BEGIN { printf "all shards: %.2f s wall\n", e - s }'

set +e
/usr/bin/time -f "merge: wall %e s, peak RSS %M KB" "$sim" merge "$out"/shards/* --out "$out/merged" > "$out/logs/merge.out"
merged=$?
set -e
tail -n +1 "$out/logs/merge.out" | grep '^wrote' || true
# 99 is a breached threshold: the merge's verdict on the merged figures, not a failure of it.
if [ "$merged" -ne 0 ] && [ "$merged" -ne 99 ]; then
  echo "merge failed with exit $merged" >&2
  exit "$merged"
fi

if $check; then
  set +e
  /usr/bin/time -f "one process: wall %e s, peak RSS %M KB" "$sim" run "$scenario" --out "$out/whole" --quiet "${extra[@]}" > /dev/null
  whole=$?
  set -e
  if cmp -s "$out/whole/report.json" "$out/merged/report.json" && [ "$whole" -eq "$merged" ]; then
    echo "merged report.json is byte-identical to the one-process run's (exit $merged both)"
  else
    echo "merged report.json DIFFERS from the one-process run's (exit $merged merged, $whole whole)" >&2
    exit 1
  fi
fi
exit "$merged"
