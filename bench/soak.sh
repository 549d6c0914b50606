#!/usr/bin/env bash
# Soak: bank-mock serve under an open-model load of half its measured maximum for 10 minutes
# (`bench/soak.sh 10m`, the default; `bench/soak.sh 60s` for a quick look), on loopback, against
# the ~1 KB transactions page with token and consent checks, field filtering and the exposure
# ledger on (bench/lib.sh sets it up). The maximum is measured first, in the same run, with
# platform-mock's closed loop (64 connections, 10 s). Samples the server's resident memory and
# open file descriptors every 10 s and checks, after a warm-up of the first 60 s (the allocator
# and the connection pool settle):
#   - resident memory grows by less than 10% from the end of the warm-up to the end;
#   - open file descriptors stay flat (the highest sample at most 8 above the warm-up's);
#   - every request is accounted for: each one sent was answered, and the bank's own count of
#     responses on the route grew by exactly the number the load generator completed.
# Exits 1 if a check fails. Bounded: the load stops by itself after DURATION (at most 10m).
source "$(dirname "$0")/lib.sh"
DURATION=${1:-10m}
WARMUP=60
samples=$(mktemp)
loadout=$(mktemp)
trap 'kill $server $ceiling ${loader:-} 2>/dev/null; rm -f "$log" "$samples" "$loadout"' EXIT
# Responses the bank counted on the transactions route, any status.
responses() {
  curl -s "$BASE/metrics" | awk '/^bank_http_responses_total\{/ && /route="transactions"/ { n += $NF } END { printf "%d\n", n }'
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
fds() { ls "/proc/$server/fd" | wc -l; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
max=$("$BIN"/platform-mock load "$PAGE" --token "$ACC" --connections 64 --duration 10s | grep -o 'achieved [0-9]*' | cut -d' ' -f2)
rate=$((max / 2))
echo "maximum (closed loop, 64 connections, 10 s): $max/s; soak at $rate/s for $DURATION"
before=$(responses)
"$BIN"/platform-mock load "$PAGE" --token "$ACC" --rate "$rate" --duration "$DURATION" > "$loadout" 2>&1 &
loader=$!
start=$(date +%s)
echo "seconds rss_kb fds" | tee "$samples"
while kill -0 "$loader" 2>/dev/null; do
  echo "$(( $(date +%s) - start )) $(rss_kb) $(fds)" | tee -a "$samples"
  sleep 10
done
wait "$loader"
loader=""
cat "$loadout"
after=$(responses)
completed=$(grep -o '[0-9]* completed' "$loadout" | cut -d' ' -f1)
sent=$(grep -o '[0-9]* sent' "$loadout" | cut -d' ' -f1)
errors=$(grep -o 'errors {.*}' "$loadout")
awk -v warmup="$WARMUP" -v sent="$sent" -v completed="$completed" -v counted="$((after - before))" -v errors="$errors" '
  NR > 1 && $1 >= warmup && !base_rss { base_rss = $2; base_fds = $3 }
  NR > 1 { last_rss = $2; if ($3 > max_fds) max_fds = $3 }
  END {
    if (!base_rss) { print "run shorter than the warm-up: nothing to compare"; exit 1 }
    growth = 100 * (last_rss - base_rss) / base_rss
    ok_rss = growth < 10; ok_fds = max_fds <= base_fds + 8
    ok_all = sent == completed && counted == completed && errors == "errors {}"
    printf "resident memory: %d KB after the warm-up, %d KB at the end: %+.1f%% (< 10%%): %s\n", base_rss, last_rss, growth, ok_rss ? "ok" : "FAILED"
    printf "open file descriptors: %d after the warm-up, at most %d (flat): %s\n", base_fds, max_fds, ok_fds ? "ok" : "FAILED"
    printf "requests: %d sent, %d completed, %d counted by the bank, %s: %s\n", sent, completed, counted, errors, ok_all ? "ok" : "FAILED"
    exit !(ok_rss && ok_fds && ok_all) }' "$samples"
