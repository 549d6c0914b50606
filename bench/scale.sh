#!/usr/bin/env bash
# Scale check of the virtual-time engine on the default scenario: 1,000,000 customers per bank
# and a 30-day data phase. Prints wall time and peak resident memory (GNU time).
# Targets (issue 3): wall time under 10 s; peak RSS under 500 MB, i.e. memory does not grow
# with the population beyond per-linked-customer tallies.
# Usage: bench/scale.sh [CUSTOMERS] [DATA_DAYS]
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-1000000}
days=${2:-30}
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
cargo build --release -q -p sim
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed -e "s/^customers = 20000$/customers = $customers/" \
    -e "s/^duration = \"90d\"$/duration = \"${days}d\"/" \
    scenarios/messenger-2018.toml > "$work/scale.toml"
grep -q "customers = $customers" "$work/scale.toml" || { echo "could not set the population" >&2; exit 1; }
echo "messenger-2018 with $customers customers per bank, ${days}-day data phase"
/usr/bin/time -f "wall %e s, peak RSS %M KB, user %U s" target/release/sim run "$work/scale.toml" --out "$work/out" --max-requests 10000000000 --max-memory-mb 65536 > "$work/stdout"
python3 - "$work/out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = r["data"]
requests = sum(f["requests"] for f in d["flows"])
linked = sum(f["exposure"]["linked_customers"] for f in d["flows"])
print(f"agreements with data: {len(d['flows'])}, linked customers: {linked}, requests: {requests}")
PY
