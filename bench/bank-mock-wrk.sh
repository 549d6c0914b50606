#!/usr/bin/env bash
# bank-mock serving a ~1 KB transactions page (7 days of one customer's on-platform card
# transactions, 6 records) with bearer-token and consent checks, field filtering and exposure
# accounting on: wrk, 2 threads, 64 connections, 10 s, loopback. Then, as the ceiling of this
# machine at this moment, the same wrk run against /healthz of the same server (no bank work),
# so the two can be compared within one run. Needs wrk (Debian package; installed here if
# missing and we are root). Also prints the server's CPU time per request.
source "$(dirname "$0")/lib.sh"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; fi
fi
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
bytes=$(curl -s "$PAGE" -H "authorization: Bearer $ACC" -H 'x-purpose: commerce' | wc -c)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
measure() {
  local before after out
  before=$(cpu_ticks)
  out=$(wrk -t2 -c64 -d10s --latency -H "authorization: Bearer $ACC" -H 'x-purpose: commerce' "$1")
  after=$(cpu_ticks)
  echo "$out"
  echo "$out" | awk -v t=$((after - before)) '/requests in/ { printf "server CPU: %.1f us per request\n", t * 10000 / $1 }'
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== transactions page: $bytes bytes of JSON"
measure "$PAGE"
echo "== /healthz (ceiling reference)"
measure "$BASE/healthz"
