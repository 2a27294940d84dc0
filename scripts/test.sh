#!/usr/bin/env bash
# Runs the test tiers with tap, on the compiled JavaScript in dist/:
#   unit         pure logic, no root needed (rule planning, IPAM, quantities...)
#   integration  root: real network namespaces, iptables, Docker
#   e2e          the real control plane (scripts/control-plane.sh) plus emulated nodes
# `npm test` runs all three; `npm test -- unit` (or integration, e2e) runs one; more arguments
# after the tier are file names or globs under dist/test/<tier>.
# Before the tests, `biome ci` checks the format and the lint rules (biome.jsonc); a failure there
# counts as one failed test. Ends with one line, "N passed, N failed", counting tap's assertions
# across the tiers.
# Usage: scripts/test.sh [unit|integration|e2e] [FILE...]     (npm test -- ...)
set -uo pipefail
. "$(dirname "$0")/lib/help.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tiers=(unit integration e2e)
if [ $# -gt 0 ] && [[ " unit integration e2e " == *" $1 "* ]]; then tiers=("$1"); shift; fi

npm run --silent build || { echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; status=0
# Format and lint (biome.jsonc) once per run, before the tests: `biome ci` checks and never writes
# (`npm run format` fixes the format). A failure counts as one failed test; the tests still run.
printf '\n=== biome ci (format and lint)\n'
if ! npx biome ci --colors=off .; then status=1; failed=1; fi
for tier in "${tiers[@]}"; do
  if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(find "dist/test/$tier" -name '*.test.js' 2>/dev/null | sort); fi
  [ ${#files[@]} -gt 0 ] || continue
  case $tier in
    unit) jobs=2 ;;
    # Integration and e2e tests share the kernel, Docker and the CPU; one file at a time keeps
    # their timing assertions meaningful on a 2-core machine.
    *) jobs=1 ;;
  esac
  printf '\n=== %s tests (%d files)\n' "$tier" "${#files[@]}"
  log=$(mktemp)
  npx tap --jobs="$jobs" --reporter=tap --disable-coverage --allow-empty-coverage "${files[@]}" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || status=1
  summary=$(grep -E '^# \{ total:' "$log" | tail -1)
  p=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary"); f=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
  p=${p:-0}; f=${f:-0}
  # A tier that crashed before tap could summarise still counts as a failure.
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  rm -f "$log"
done
echo
echo "$passed passed, $failed failed"
exit $status
