# Shared by the bench scripts: build, start a bank-mock on loopback, negotiate, link a customer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p bank-mock -p platform-mock
cargo build --release -q -p bank-mock --example hello_ceiling
BIN="${CARGO_TARGET_DIR:-target}/release"
# The bare hyper server of bank-mock/examples/hello_ceiling.rs, started by `start_ceiling`:
# the machine's ceiling at the moment, measured in the same run as what it is compared with.
ceiling=""
start_ceiling() {
  local out
  out=$(mktemp)
  "$BIN"/examples/hello_ceiling > "$out" 2>&1 &
  ceiling=$!
  for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
  CEILING=$(grep -o 'http://[0-9.:]*' "$out")
  rm -f "$out"
}
# User and system CPU ticks (1/100 s) a process has used so far.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
log=$(mktemp)
# The calendar runs a million times real time, so that the week the page asks for (2018-01-01 to
# 01-08) has been booked by the time the load starts: the bank serves nothing after its own clock.
# API (testbed, obie or fdx) is the profile the bank speaks; the standard ones start holding the
# scenario's agreement (--agreed) and hand out a consent's token through the sandbox.
API=${API:-testbed}
case "$API" in
  testbed) "$BIN"/bank-mock serve --scenario scenarios/live-demo.toml --bank demo-bank --listen 127.0.0.1:0 --time-scale 1000000 > "$log" 2>&1 & ;;
  obie|fdx) "$BIN"/bank-mock serve --scenario scenarios/live-demo.toml --bank demo-bank --listen 127.0.0.1:0 --time-scale 1000000 \
    --agreed --api "$API" > "$log" 2>&1 & ;;
  *) echo "API must be testbed, obie or fdx, not $API" >&2; exit 2 ;;
esac
server=$!
trap 'kill $server $ceiling 2>/dev/null; rm -f "$log"' EXIT
# The server prints its address, then each platform's client token (the out-of-band registration).
for _ in $(seq 50); do grep -q '^client token for demo-platform: ' "$log" && break; sleep 0.1; done
BASE=$(grep -o 'http://[0-9.:]*' "$log")
CLIENT=$(sed -n 's/^client token for demo-platform: //p' "$log")
post() { python3 -c 'import json,sys,urllib.request as u
req=u.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"content-type":"application/json", **({"authorization":"Bearer "+sys.argv[3]} if len(sys.argv)>3 else {})})
print(json.dumps(json.load(u.urlopen(req))))' "$@"; }
if [ "$API" != testbed ]; then
  for _ in $(seq 50); do grep -q '^agreement token for demo-platform: ' "$log" && break; sleep 0.1; done
  SECRET=$(sed -n 's/^oauth client for demo-platform: client_id=demo-platform client_secret=//p' "$log")
  ACC=$(curl -s -u "demo-platform:$SECRET" "$BASE/sandbox/consents" -H 'content-type: application/json' -d '{"customer":8}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  case "$API" in
    obie) PAGE="$BASE/open-banking/v3.1/aisp/accounts/card-demo-bank-8/transactions?fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2018-01-08T00:00:00Z" ;;
    fdx) PAGE="$BASE/fdx/v6/accounts/card-demo-bank-8/transactions?startTime=2018-01-01&endTime=2018-01-07" ;;
  esac
  export BASE ACC PAGE
  return 0
fi
OPENED=$(post "$BASE/negotiations" '{"Platform":"demo-platform"}' "$CLIENT")
NEG=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["NegotiationId"])' <<< "$OPENED")
NEGTOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["NegotiationToken"])' <<< "$OPENED")
AGR=$(post "$BASE/negotiations/$NEG/offers" '{"Outcome":{"balances":"included","transactions":"detail","off_platform_transactions":"excluded","purposes":"balance_display+fraud_alerts+commerce","consent_mode":"opt_in"}}' "$NEGTOKEN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Agreement"]["Token"])')
ACC=$(post "$BASE/account-access-consents" '{"Data":{"CustomerId":8}}' "$AGR" | python3 -c 'import json,sys; print(json.load(sys.stdin)["AccessToken"])')
PAGE="$BASE/accounts/card-demo-bank-8/transactions?fromBookingDateTime=2018-01-01T00:00:00Z&toBookingDateTime=2018-01-08T00:00:00Z"
export BASE ACC PAGE
