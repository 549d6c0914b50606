#!/usr/bin/env bash
# platform-mock as a load generator against bank-mock's /healthz on loopback: the closed-loop
# maximum (64 connections, 10 s), then an open-model run at 50,000 requests/s (10 s), each with
# achieved vs scheduled rate, scheduling lag and CPU microseconds per request (the load
# generator's own process). Then, in the same run, wrk -t2 -c64 -d10s against the same server
# (when wrk is installed) and the closed loop against a bare hyper server
# (bank-mock/examples/hello_ceiling.rs), as references on a shared, noisy machine.
source "$(dirname "$0")/lib.sh"
start_ceiling
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== closed loop, 64 connections, bank-mock /healthz"
"$BIN"/platform-mock load "$BASE/healthz" --connections 64 --duration 10s
echo "== open model, 50,000 requests/s, bank-mock /healthz"
"$BIN"/platform-mock load "$BASE/healthz" --rate 50000 --duration 10s
echo "== closed loop, 64 connections, bare hyper hello (the server's ceiling)"
"$BIN"/platform-mock load "$CEILING/" --connections 64 --duration 10s
if command -v wrk >/dev/null; then
  echo "== reference: wrk -t2 -c64 -d10s, bank-mock /healthz"
  start=$(date +%s%N)
  out=$( { /usr/bin/env time -f '%U %S' wrk -t2 -c64 -d10s "$BASE/healthz"; } 2>&1 )
  echo "$out" | grep -E 'requests in|Requests/sec'
  echo "$out" | tail -1 | awk -v n="$(echo "$out" | awk '/requests in/ {print $1}')" \
    '{ printf "wrk CPU: %.2f s user + %.2f s system = %.1f us per request\n", $1, $2, ($1 + $2) * 1e6 / n }'
fi
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
