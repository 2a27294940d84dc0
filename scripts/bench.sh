#!/usr/bin/env bash
# Runs one benchmark (or all): `npm run bench -- cni-latency`. Benchmarks print figures; they
# never fail on a number. Names are the files in bench/ without .ts.
# Usage: scripts/bench.sh [NAME...]      (npm run bench -- NAME...)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
npm run --silent build >/dev/null
if [ $# -eq 0 ]; then
  set -- $(find dist/bench -maxdepth 1 -name '*.js' ! -name harness.js -printf '%f\n' | sed 's/\.js$//' | sort)
fi
for b in "$@"; do
  echo
  node "dist/bench/$b.js"
done
