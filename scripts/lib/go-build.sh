# Shared by the scripts that build upstream programs from their published Go modules
# (build-control-plane.sh, build-conformance.sh, build-coredns.sh). Sourced, not run.
# shellcheck shell=bash

# go_build_env SCRIPT WHAT MIN_GO: stop unless Go is installed, else set what every such build
# uses: dependencies resolved and recorded as `go get` leaves them (-mod=mod), the installed Go
# only (never a toolchain download), and static binaries (CGO off), which run in images that hold
# no C library and on any Linux machine.
go_build_env() {
  command -v go >/dev/null || { echo "$1: 'go' is not installed (needed only to build $2): apt-get install golang-go or install Go >= $3" >&2; exit 1; }
  export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
}
