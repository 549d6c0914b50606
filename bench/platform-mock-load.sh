#!/usr/bin/env bash
# platform-mock as a load generator against bank-mock's /healthz on loopback: the closed-loop
# maximum (64 connections, 10 s), then an open-model run at 50,000 requests/s (10 s), each with
# achieved vs scheduled rate, scheduling lag and CPU microseconds per request (the load
# generator's own process). wrk's figures on the same server follow as the reference, when wrk
# is installed.
source "$(dirname "$0")/lib.sh"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== closed loop, 64 connections"
"$BIN"/platform-mock load "$BASE/healthz" --connections 64 --duration 10s
echo "== open model, 50,000 requests/s"
"$BIN"/platform-mock load "$BASE/healthz" --rate 50000 --duration 10s
if command -v wrk >/dev/null; then
  echo "== reference: wrk -t2 -c64 -d10s, same server"
  TIMEFORMAT='wrk CPU: %U s user + %S s system'
  time wrk -t2 -c64 -d10s "$BASE/healthz" | grep -E 'requests in|Requests/sec'
fi
