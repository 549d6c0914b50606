#!/usr/bin/env bash
# Speed of HEAD against an earlier revision, measured in the same run, as BENCHMARKS.md asks on a
# shared machine whose speed changes from day to day:
#
#   bench/against.sh BASE_REV [PAIRS]     (default 4 pairs)
#
# Checks out HEAD and BASE_REV in worktrees beside the checkout, in ../.against-worktrees/, each
# with its own target dir seeded from this one (a shared one would rebuild the workspace at every
# switch), builds both, then runs in turn, the
# order alternating from pair to pair: the engine bench (`cargo bench -p sim --bench engine`,
# one 1M-request M/M/1 run per sample) and bench/bank-mock-wrk.sh (HEAD's copy of the script and
# of bench/lib.sh for both, so that both serve the same page). Prints each figure as it comes and
# ends with the engine means. Needs wrk (see bank-mock-wrk.sh). Do not build anything else
# meanwhile: it would be measured too.
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev="${1:?usage: bench/against.sh BASE_REV [PAIRS]}"
pairs="${2:-4}"
root="$PWD/../.against-worktrees"
mkdir -p "$root"
prepare() { # NAME REV
  local dir="$root/$1"
  git worktree remove --force "$dir" 2>/dev/null || true
  git worktree add --detach "$dir" "$2" >/dev/null
  # Start from this checkout's release build: dependencies that did not change are not built
  # again (a copy that fails half-way, say while a build runs, only means more to build).
  if [[ -d target/release ]]; then mkdir -p "$dir/target" && cp -a target/release "$dir/target/" || true; fi
  cp bench/lib.sh bench/bank-mock-wrk.sh "$dir/bench/"
  (cd "$dir" && export CARGO_TARGET_DIR="$dir/target" \
    && cargo build --release -q -p bank-mock -p platform-mock \
    && cargo build --release -q -p bank-mock --example hello_ceiling \
    && cargo bench -q -p sim --bench engine --no-run >/dev/null 2>&1)
}
trap 'git worktree remove --force "$root/head" 2>/dev/null; git worktree remove --force "$root/base" 2>/dev/null' EXIT
echo "building HEAD ($(git rev-parse --short HEAD)) and $base_rev"
prepare head HEAD
prepare base "$base_rev"
engine_bin() { ls -t "$root/$1"/target/release/deps/engine-* | grep -v '\.d$' | head -1; }
declare -A total=([head]=0 [base]=0)
engine() { # NAME
  local out ms
  # The whole output first: a pipe closed early would stop the bench with SIGPIPE.
  out=$(cd "$root/$1" && "$(engine_bin "$1")" --bench --noplot 2>&1)
  ms=$(awk '/time:/ { print $5; exit }' <<<"$out")
  echo "engine $1: $ms ms (load $(cut -d' ' -f1 /proc/loadavg))"
  total[$1]=$(awk -v a="${total[$1]}" -v b="$ms" 'BEGIN { print a + b }')
}
wrk_run() { # NAME
  local out
  out=$(cd "$root/$1" && CARGO_TARGET_DIR="$root/$1/target" bash bench/bank-mock-wrk.sh 2>&1)
  echo "wrk $1:"
  grep -E '^(transactions page|hyper hello)' <<<"$out" | head -2
}
for p in $(seq "$pairs"); do
  if (( p % 2 )); then order=(head base); else order=(base head); fi
  for n in "${order[@]}"; do engine "$n"; done
  for n in "${order[@]}"; do wrk_run "$n"; done
done
awk -v h="${total[head]}" -v b="${total[base]}" -v n="$pairs" \
  'BEGIN { printf "engine means over %d pairs: head %.1f ms, base %.1f ms, head / base %.3f\n", n, h / n, b / n, h / b }'
