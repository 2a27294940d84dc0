#!/usr/bin/env bash
# Builds upstream kube-proxy at the Kubernetes release pinned in versions.sh, from the published
# Go modules, with build-control-plane.sh's recipe (a generated go.mod that replaces every staging
# module, the release's version stamped in, static binary) and cache (Go's module and build
# caches are shared, so the packages it has in common with the control plane are not compiled
# again). kubenode does not run it: the benchmarks run it beside kubenode-proxy
# (bench/proxy-upstream.ts) so that both are measured in the same run.
#
# Installed as $KUBENODE_CACHE/bin/k8s-<version>/kube-proxy, beside the control plane's binaries.
# A second run finds the stamp and builds nothing.
# Usage: scripts/build-kube-proxy.sh    (setup.sh runs it; KUBENODE_CACHE, default /var/cache/kubenode)
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
out="$cache/bin/k8s-$KUBERNETES_VERSION"
stamp="$out/.complete-kube-proxy"
if [ -f "$stamp" ]; then
  echo "kube-proxy $KUBERNETES_VERSION already built in $out"
  exit 0
fi

go_build_env build-kube-proxy "upstream kube-proxy" 1.24
mkdir -p "$out"
# One build at a time (setup.sh and a benchmark may start it together).
exec 9>"$out/.lock-kube-proxy"
flock 9
if [ -f "$stamp" ]; then
  echo "kube-proxy $KUBERNETES_VERSION already built in $out"
  exit 0
fi

# Its own module directory: the control plane's go.mod stays as build-control-plane.sh left it.
mod="$cache/build/kube-proxy-$KUBERNETES_VERSION"
mkdir -p "$mod"
if [ ! -f "$mod/go.sum" ]; then
  k8s_gomod kubenode.local/kube-proxy > "$mod/go.mod"
  (cd "$mod" && go get "k8s.io/kubernetes/cmd/kube-proxy@$KUBERNETES_VERSION")
fi
echo "building kube-proxy $KUBERNETES_VERSION (first time only; a few minutes)"
(cd "$mod" && go build -trimpath -ldflags "$(k8s_version_ldflags)" -o "$out/kube-proxy.tmp" k8s.io/kubernetes/cmd/kube-proxy)
mv "$out/kube-proxy.tmp" "$out/kube-proxy"
"$out/kube-proxy" --version >/dev/null 2>&1 || { echo "build-kube-proxy: $out/kube-proxy does not run" >&2; exit 1; }
touch "$stamp"
echo "kube-proxy built in $out"
