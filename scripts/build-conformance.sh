#!/usr/bin/env bash
# Builds what upstream's conformance suite needs, at the Kubernetes release pinned in versions.sh,
# from the published Go modules (as build-control-plane.sh builds the control plane):
#   e2e.test    the e2e suite (k8s.io/kubernetes/test/e2e, compiled with `go test -c`)
#   ginkgo      the Ginkgo CLI at the version that release's go.mod requires: it runs e2e.test in
#               parallel processes and merges their reports
#   agnhost     the suite's Swiss-army test program (test/images/agnhost), wrapped in an image by
#               scripts/build-conformance-images.sh
#   nnp         test/images/nonewprivs (prints its effective uid; the image makes it setuid)
#
# The result is cached under $KUBENODE_CACHE: a second run finds the stamp and builds nothing.
# The first e2e.test build is long (20+ minutes on 2 cores, several GiB of build cache).
# Usage: scripts/build-conformance.sh    (setup.sh runs it; KUBENODE_CACHE, default /var/cache/kubenode)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
# shellcheck source=scripts/lib/k8s-module.sh
. "$here/lib/k8s-module.sh"
# shellcheck source=scripts/lib/go-build.sh
. "$here/lib/go-build.sh"

cache=${KUBENODE_CACHE:-/var/cache/kubenode}
out="$cache/bin/conformance-$KUBERNETES_VERSION"
stamp="$out/.complete"
if [ -f "$stamp" ]; then
  echo "conformance suite $KUBERNETES_VERSION already built in $out"
  exit 0
fi

# Static binaries: agnhost and nnp go into images that hold no C library.
go_build_env build-conformance "the e2e suite" 1.24
mkdir -p "$out"
# One build at a time (setup.sh and a conformance run may start together): the second waits for
# the first and then finds the stamp.
exec 9>"$out/.lock"
flock 9
if [ -f "$stamp" ]; then
  echo "conformance suite $KUBERNETES_VERSION already built in $out"
  exit 0
fi

mod="$cache/build/conformance-$KUBERNETES_VERSION"
mkdir -p "$mod"
if [ ! -f "$mod/go.sum" ]; then
  k8s_gomod kubenode.local/conformance > "$mod/go.mod"
  # -t: e2e.test is the package's test binary, so its test files' imports are needed too.
  (cd "$mod" && go get -t "k8s.io/kubernetes/test/e2e@$KUBERNETES_VERSION" \
     "k8s.io/kubernetes/test/images/agnhost@$KUBERNETES_VERSION" \
     "k8s.io/kubernetes/test/images/nonewprivs@$KUBERNETES_VERSION")
fi
# The Ginkgo CLI must match the library compiled into e2e.test (the CLI refuses a mismatch), so
# it is the version the module graph selected for k8s.io/kubernetes.
ginkgo_version=$(cd "$mod" && go list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2)
if ! grep -q 'onsi/ginkgo/v2/ginkgo' "$mod/.ginkgo-got" 2>/dev/null; then
  (cd "$mod" && go get "github.com/onsi/ginkgo/v2/ginkgo@$ginkgo_version")
  echo github.com/onsi/ginkgo/v2/ginkgo > "$mod/.ginkgo-got"
fi

ldflags=$(k8s_version_ldflags)
build() {  # build NAME PACKAGE: go build PACKAGE into $out/NAME
  local name=$1 pkg=$2
  [ -x "$out/$name" ] && return 0
  echo "building $name ($pkg)"
  (cd "$mod" && go build -trimpath -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
}
build agnhost k8s.io/kubernetes/test/images/agnhost
build nnp k8s.io/kubernetes/test/images/nonewprivs
build ginkgo github.com/onsi/ginkgo/v2/ginkgo
if [ ! -x "$out/e2e.test" ]; then
  echo "building e2e.test $KUBERNETES_VERSION (first time only; 20+ minutes)"
  # The version ldflags: the suite compares its own version with the apiserver's.
  (cd "$mod" && go test -c -trimpath -ldflags "$ldflags" -o "$out/e2e.test.tmp" k8s.io/kubernetes/test/e2e)
  mv "$out/e2e.test.tmp" "$out/e2e.test"
fi

"$out/ginkgo" version >/dev/null 2>&1 || { echo "build-conformance: $out/ginkgo does not run" >&2; exit 1; }
"$out/agnhost" --help >/dev/null 2>&1 || { echo "build-conformance: $out/agnhost does not run" >&2; exit 1; }
grep -q ginkgo <<<"$("$out/e2e.test" --help 2>&1 || true)" || { echo "build-conformance: $out/e2e.test does not run" >&2; exit 1; }
touch "$stamp"
echo "conformance suite built in $out (ginkgo $ginkgo_version)"
