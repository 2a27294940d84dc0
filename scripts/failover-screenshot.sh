#!/usr/bin/env bash
# The README's picture of the failover page (docs/failover.png), made from a real run: runs
# scripts/failover.sh with the given scenarios (default: a b) against the cluster that is up
# (`sudo npm start`, or any cluster.sh cluster: same settings), then opens the page it wrote in
# headless Chromium (Debian's chromium, driven by playwright-core; setup.sh installs both) and
# saves a full-page screenshot.
# Usage: scripts/failover-screenshot.sh [--out FILE] [--page FILE] [a b c d]
#   --out FILE    the PNG to write (default: docs/failover.png)
#   --page FILE   screenshot this page, already written by `failover.sh --html FILE`, instead of
#                 running the scenarios
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$root/docs/failover.png
page=
scenarios=()
while [ $# -gt 0 ]; do
  case $1 in
    --out|--page) [ -n "${2:-}" ] || { echo "failover-screenshot.sh: $1 needs a file name" >&2; exit 2; }
                  if [ "$1" = --out ]; then out=$2; else page=$2; fi; shift 2 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
[ -f "$root/dist/test/harness/browser.js" ] || { echo "failover-screenshot.sh: not built: run 'npm run build'" >&2; exit 1; }
if [ -z "$page" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  page=$tmp/failover.html
  [ ${#scenarios[@]} -gt 0 ] || scenarios=(a b)
  bash "$here/failover.sh" --html "$page" "${scenarios[@]}"
fi
[ -f "$page" ] || { echo "failover-screenshot.sh: no page at $page" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
node --input-type=module -e '
  const [, browserJs, page, out] = process.argv;
  const { inspectFailoverPage } = await import(browserJs);
  const shown = await inspectFailoverPage(page, out);
  for (const s of shown) console.log(`(${s.scenario}) ${s.points} requests drawn (${s.failedPoints} failed), ${s.eventLines} events`);
' "$root/dist/test/harness/browser.js" "$page" "$out"
echo "screenshot: $out"
