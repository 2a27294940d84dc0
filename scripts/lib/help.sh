# Sourced first thing by every script in scripts/: `--help` or `-h` as the first argument prints
# the script's usage, which is its opening comment (from line 2 to the first line that is not a
# comment), on stdout, and exits 0, before the script checks for root or touches anything. Only
# the first argument counts: later ones belong to the subcommand (`cluster.sh kubectl get -h`).
# shellcheck shell=bash

# print_usage [SCRIPT]: the opening comment of SCRIPT (default: the running script), unindented.
print_usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${1:-$0}"; }

case "${1:-}" in
  -h|--help) print_usage; exit 0 ;;
esac
