#!/usr/bin/env bash
# platform-mock as a load generator against bank-mock's /healthz on loopback: the closed-loop
# maximum (64 connections, 10 s), then an open-model run at 50,000 requests/s (10 s), each with
# achieved vs scheduled rate, scheduling lag and CPU microseconds per request (the load
# generator's own process). Then, in the same run, wrk -t2 -c64 -d10s against the same server
# (when wrk is installed) and the closed loop against a bare hyper server
# (bank-mock/examples/hello_ceiling.rs), as references on a shared, noisy machine. Ends with the
# issue's targets read as ratios to wrk measured in this run (the issue's figures were taken
# where wrk did ~154k/s at ~6 us per request).
source "$(dirname "$0")/lib.sh"
start_ceiling
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== closed loop, 64 connections, bank-mock /healthz"
closed=$("$BIN"/platform-mock load "$BASE/healthz" --connections 64 --duration 10s)
echo "$closed"
echo "== open model, 50,000 requests/s, bank-mock /healthz"
open=$("$BIN"/platform-mock load "$BASE/healthz" --rate 50000 --duration 10s)
echo "$open"
echo "== closed loop, 64 connections, bare hyper hello (the server's ceiling)"
"$BIN"/platform-mock load "$CEILING/" --connections 64 --duration 10s
if command -v wrk >/dev/null; then
  echo "== reference: wrk -t2 -c64 -d10s, bank-mock /healthz"
  out=$( { /usr/bin/env time -f '%U %S' wrk -t2 -c64 -d10s "$BASE/healthz"; } 2>&1 )
  echo "$out" | grep -E 'requests in|Requests/sec'
  wrk_rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  wrk_us=$(echo "$out" | tail -1 | awk -v n="$(echo "$out" | awk '/requests in/ {print $1}')" '{ print ($1 + $2) * 1e6 / n }')
  echo "wrk CPU: $wrk_us us per request"
  rate_of() { echo "$1" | grep -o 'achieved [0-9]*' | cut -d' ' -f2; }
  us_of() { echo "$1" | grep -o '[0-9.]* µs per request' | cut -d' ' -f1; }
  awk -v closed="$(rate_of "$closed")" -v closed_us="$(us_of "$closed")" -v open="$(rate_of "$open")" \
    -v open_us="$(us_of "$open")" -v wrk="$wrk_rate" -v wrk_us="$wrk_us" 'BEGIN {
    verdict = "not met"; if (closed >= wrk * 100 / 154) verdict = "met"
    printf "closed loop: %d/s at %.1f us = %.0f%% of wrk (%d/s at %.1f us); target 100k of 154k = 65%%: %s\n",
      closed, closed_us, 100 * closed / wrk, wrk, wrk_us, verdict
    verdict = "not met"; if (open >= 49500 && open_us <= wrk_us * 10 / 6) verdict = "met"
    printf "open model: %d/s of 50,000 at %.1f us = %.2fx wrk cost; target 50k/s at 10 us where wrk costs 6 us (%.2fx): %s\n",
      open, open_us, open_us / wrk_us, 10 / 6, verdict }'
fi
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
