#!/usr/bin/env bash
# Renders a report.html in headless Chromium to a PNG and fails if the page logs a console
# error or asks for anything outside the file (the page must be self-contained).
#
#   reports/screenshot.sh [REPORT_HTML] [OUT_PNG] [HEIGHT] [ANCHOR]
#
# Defaults: runs the default scenario into a temporary folder and writes
# reports/examples/messenger-2018/report.png (the picture in the README). With ANCHOR (the id of
# a <details> element of the page, e.g. space-pair-messenger-citi-like), the picture is of that
# element alone, on a page of its own with the report's styles.
# Installs Debian's `chromium` package when no Chromium is found.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
html="${1:-}"
out="${2:-$root/reports/examples/messenger-2018/report.png}"
height="${3:-2200}"
anchor="${4:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ -z "$html" ]]; then
    (cd "$root" && cargo run --quiet -p sim -- run scenarios/messenger-2018.toml --out "$work/run" >/dev/null)
    html="$work/run/report.html"
fi
[[ -f "$html" ]] || { echo "screenshot.sh: $html: no such file" >&2; exit 2; }

chromium_bin() {
    command -v chromium || command -v chromium-browser || command -v google-chrome || true
}
if [[ -z "$(chromium_bin)" ]]; then
    sudo=""
    [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
chromium="$(chromium_bin)"
[[ -n "$chromium" ]] || { echo "screenshot.sh: chromium is not installed" >&2; exit 1; }

html="$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
if [[ -n "$anchor" ]]; then
    python3 - "$html" "$anchor" "$work/part.html" <<'PY'
import sys
page, anchor, out = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2], sys.argv[3]
at = page.find(f'id="{anchor}"')
if at < 0:
    sys.exit(f"screenshot.sh: no element with id {anchor} in {sys.argv[1]}")
start, end = page.rfind("<details", 0, at), page.find("</details>", at) + len("</details>")
head = page[: page.find("<body")]
open(out, "w", encoding="utf-8").write(f'{head}<body><main class="wrap">{page[start:end]}</main></body></html>\n')
PY
    html="$work/part.html"
fi
mkdir -p "$(dirname "$out")"
flags=(
    --headless --no-sandbox --disable-gpu --disable-background-networking --disable-extensions
    --disable-component-update --disable-default-apps --disable-sync --no-first-run --mute-audio
    --hide-scrollbars --force-device-scale-factor=1 --user-data-dir="$work/profile"
    --enable-logging=stderr
)

# The page has no scripts, so any console message is a problem (Chromium logs them as
# `CONSOLE(line)` or `INFO:CONSOLE:line]`); at --v=1 it also logs every URL request, so an
# attempt to fetch anything over the network shows up too.
"$chromium" "${flags[@]}" --v=1 --dump-dom "file://$html" >"$work/dom.html" 2>"$work/dom.log" || {
    cat "$work/dom.log" >&2
    echo "screenshot.sh: chromium could not load $html" >&2
    exit 1
}
"$chromium" "${flags[@]}" --v=0 --window-size="1280,$height" --screenshot="$out" "file://$html" 2>"$work/shot.log" || {
    cat "$work/shot.log" >&2
    echo "screenshot.sh: chromium could not take the screenshot" >&2
    exit 1
}

# Chromium's own housekeeping (clock, updates, sign-in) goes to Google hosts whatever the flags;
# anything else requested over the network came from the page.
problems="$(cat "$work/dom.log" "$work/shot.log" \
    | grep -E 'CONSOLE[(:]|Uncaught|NotifyBeforeURLRequest: (https?|wss?|ftp):|Failed to load resource' \
    | grep -vE 'NotifyBeforeURLRequest: https?://[a-z0-9.-]*\.(google\.com|googleapis\.com|gvt1\.com)/' \
    || true)"
if [[ -n "$problems" ]]; then
    echo "$problems" >&2
    echo "screenshot.sh: the page logged console errors or tried to load something" >&2
    exit 1
fi
grep -q '<svg' "$work/dom.html" || { echo "screenshot.sh: the rendered page holds no chart" >&2; exit 1; }
[[ -s "$out" ]] || { echo "screenshot.sh: no picture was written" >&2; exit 1; }
echo "wrote $out"
