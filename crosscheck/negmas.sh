#!/usr/bin/env bash
# Issue 15's cross-check: the deal-quality figures of sim's reports against NegMAS's on the same
# utility functions (crosscheck/negmas_compare.py says how), for every committed scenario and ten
# generated domains. Installs NegMAS (pinned) in target/crosscheck-venv and builds sim; takes a
# few minutes. Not part of .ci/run: NegMAS pulls in numpy, scipy, matplotlib and more.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/crosscheck-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q 'negmas==0.16.0'
cargo build --release -q -p sim
exec "$venv/bin/python" crosscheck/negmas_compare.py --sim "${CARGO_TARGET_DIR:-target}/release/sim" "$@"
