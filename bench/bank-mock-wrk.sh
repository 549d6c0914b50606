#!/usr/bin/env bash
# bank-mock serving a ~1 KB transactions page with consent check, field filtering and exposure
# accounting on: wrk, 2 threads, 64 connections, 10 s, loopback. Needs wrk (Debian package;
# installed here if missing and we are root).
source "$(dirname "$0")/lib.sh"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; fi
fi
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
bytes=$(curl -s "$PAGE" -H "authorization: Bearer $ACC" -H 'x-purpose: commerce' | wc -c)
echo "page: $bytes bytes of JSON"
wrk -t2 -c64 -d10s --latency -H "authorization: Bearer $ACC" -H 'x-purpose: commerce' "$PAGE"
