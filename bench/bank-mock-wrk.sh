#!/usr/bin/env bash
# bank-mock serving a ~1 KB transactions page (7 days of one customer's on-platform card
# transactions, 6 records) with bearer-token and consent checks, field filtering and exposure
# accounting on: wrk, 2 threads, 64 connections, 10 s, loopback. Then, in the same run, the
# same wrk load against bank-mock's /healthz (the server without the bank's work) and against
# a bare hyper server (bank-mock/examples/hello_ceiling.rs: the machine's ceiling at this
# moment), so that the figures can be read as ratios on a shared, noisy machine. Prints each
# server's user and system CPU per request. Needs wrk (Debian package; installed here if
# missing and we are root). Ends with the issue's target read as a ratio to the ceiling measured
# in this run (the issue's figures were taken where bare hyper served ~150k/s).
# `--api obie|fdx` measures that profile's transactions page instead (issue 14's target: at
# least 75% of the ceiling measured in the same run).
API=testbed
if [ "${1:-}" = --api ]; then API=${2:?--api needs testbed, obie or fdx}; fi
export API
source "$(dirname "$0")/lib.sh"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; fi
fi
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
start_ceiling
bytes=$(curl -s "$PAGE" -H "authorization: Bearer $ACC" -H 'x-purpose: commerce' | wc -c)
summary=()
# measure LABEL PID URL: wrk against URL, CPU of process PID.
measure() {
  local label=$1 pid=$2 url=$3 before after out line
  before=$(cpu_ticks "$pid")
  out=$(wrk -t2 -c64 -d10s --latency -H "authorization: Bearer $ACC" -H 'x-purpose: commerce' "$url")
  after=$(cpu_ticks "$pid")
  echo "$out"
  line=$(echo "$out" | awk -v b="$before" -v a="$after" -v label="$label" '
    BEGIN { split(b, x, " "); split(a, y, " ") }
    / 99% / { p99 = $2 }
    /requests in/ { n = $1; secs = $4 + 0 }
    /Non-2xx/ { bad = $NF }
    END { u = (y[1] - x[1]) * 10000 / n; s = (y[2] - x[2]) * 10000 / n
          printf "%-22s %9.0f req/s  p99 %-8s  server CPU %5.1f us/req (user %.1f, system %.1f)%s", label, n / secs, p99, u + s, u, s, (bad ? "  NON-2XX: " bad : "") }')
  echo "$line"
  summary+=("$line")
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== transactions page: $bytes bytes of JSON"
measure "transactions page" "$server" "$PAGE"
echo "== bank-mock /healthz"
measure "bank-mock /healthz" "$server" "$BASE/healthz"
echo "== bare hyper hello (ceiling)"
measure "hyper hello (ceiling)" "$ceiling" "$CEILING/"
echo "== summary (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${summary[@]}"
rate() { printf '%s\n' "${summary[$1]}" | grep -o '[0-9]* req/s' | cut -d' ' -f1; }
p99=$(printf '%s\n' "${summary[0]}" | grep -o 'p99 [0-9.]*[mun]*s' | cut -d' ' -f2)
awk -v api="$API" -v page="$(rate 0)" -v healthz="$(rate 1)" -v hello="$(rate 2)" -v p99="$p99" 'BEGIN {
  ms = p99 + 0; if (p99 ~ /us$/) ms /= 1000; else if (p99 !~ /ms$/) ms *= 1000
  printf "page p99 %s: target < 10 ms: %s\n", p99, (ms < 10 ? "met" : "not met")
  printf "page / ceiling %.0f%%, /healthz / ceiling %.0f%%\n", 100 * page / hello, 100 * healthz / hello
  verdict = "not met"; if (page >= hello * 90 / 150) verdict = "met"
  printf "target read as a ratio: 90k where the ceiling is ~150k = 60%% of the ceiling: %s\n", verdict
  if (api != "testbed") printf "%s page at 75%% of the ceiling (issue 14): %s\n", api, (page >= hello * 0.75 ? "met" : "not met") }'
