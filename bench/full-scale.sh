#!/usr/bin/env bash
# The story at its published scale (issue 13): runs a fixed number of the 64 shards of
# scenarios/messenger-2018-full.toml here, each as pod i of the Indexed Job would
# (JOB_COMPLETION_INDEX=i, `sim run --shard-count 64`), at most JOBS at a time, and prints each
# shard's requests, wall time, requests a second per core (over its CPU time) and peak RSS (GNU
# time); then projects the whole run: its requests, its wall time on 64 pods (one shard each, in
# parallel: the slowest shard measured, before the merge) and on one core.
# Usage: bench/full-scale.sh [SHARDS [JOBS]]     defaults: 2 shards, 1 at a time
set -euo pipefail
cd "$(dirname "$0")/.."
shards=${1:-2}
jobs=${2:-1}
scenario=scenarios/messenger-2018-full.toml
count=64
[[ $shards =~ ^[1-9][0-9]*$ ]] && [ "$shards" -le "$count" ] || { echo "SHARDS = $shards; allowed 1..=$count" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "JOBS = $jobs; allowed a whole number >= 1" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
cargo build --release -q -p sim --locked
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_shard() {
  local i=$1
  JOB_COMPLETION_INDEX=$i /usr/bin/time -f "%e %U %M" -o "$work/$i.time" \
    target/release/sim run "$scenario" --shard-count "$count" --out "$work/$i" --quiet > "$work/$i.out"
}

echo "$shards of the $count shards of $scenario, $jobs at a time, on $(nproc) cores"
running=0
for ((i = 0; i < shards; i++)); do
  run_shard "$i" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
python3 - "$work" "$shards" "$count" <<'PY'
import re, sys, pathlib
work, shards, count = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rows = []
for i in range(shards):
    requests = int(re.search(r": (\d+) requests", (work / f"{i}.out").read_text()).group(1))
    wall, user, rss_kb = (work / f"{i}.time").read_text().split()[-3:]
    rows.append((i, requests, float(wall), float(user), int(rss_kb)))
for i, requests, wall, user, rss in rows:
    print(f"shard {i}/{count}: {requests:,} requests, wall {wall:.1f} s, "
          f"{requests / user / 1e6:.2f}M requests/s per core, peak RSS {rss / 1024:.0f} MB")
mean_requests = sum(r[1] for r in rows) / len(rows)
mean_wall = sum(r[2] for r in rows) / len(rows)
print(f"projected whole run: {mean_requests * count:.3g} requests; "
      f"on {count} pods about {max(r[2] for r in rows):.0f} s (the slowest shard measured, plus the merge); "
      f"on one core about {mean_wall * count / 60:.0f} min; peak RSS per shard at most {max(r[4] for r in rows) / 1024:.0f} MB")
PY
