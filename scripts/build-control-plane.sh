#!/usr/bin/env bash
# Builds the upstream Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) and etcd (with etcdctl, for the agent's etcd manifest source) from their
# published Go modules, at one pinned release.
#
# Why from Go modules: no container or binary registry is reachable here, only the Go module
# proxy. k8s.io/kubernetes is not meant to be used as a dependency: its go.mod points every
# staging module (k8s.io/api, k8s.io/client-go, ...) at ./staging, so a consumer must `replace`
# each of them with its published v0.X.Y tag. That is what the generated go.mod below does.
#
# The result is cached under $KUBENODE_CACHE: a second run finds the binaries and builds nothing.
# Usage: scripts/build-control-plane.sh    (setup.sh runs it; KUBENODE_CACHE, default /var/cache/kubenode)
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
stamp="$out/.complete-etcd-$ETCD_VERSION-etcdctl"
if [ -f "$stamp" ]; then
  echo "control plane $KUBERNETES_VERSION and etcd $ETCD_VERSION already built in $out"
  exit 0
fi

go_build_env build-control-plane "the upstream control plane" 1.24
mkdir -p "$out"

# --- Kubernetes ------------------------------------------------------------
k8s_mod="$cache/build/k8s-$KUBERNETES_VERSION"
mkdir -p "$k8s_mod"
if [ ! -f "$k8s_mod/go.sum" ]; then
  k8s_gomod kubenode.local/control-plane > "$k8s_mod/go.mod"
  # `go get pkg@version` pins the release; without @version it would move to the newest one.
  (cd "$k8s_mod" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" \
     "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
     "k8s.io/kubernetes/cmd/kube-scheduler@$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/kubectl@$KUBERNETES_VERSION")
fi
# `kubectl version` and the apiserver's /version report the real release.
ldflags=$(k8s_version_ldflags)
for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  if [ ! -x "$out/$cmd" ]; then
    echo "building $cmd $KUBERNETES_VERSION (first time only; several minutes)"
    (cd "$k8s_mod" && go build -trimpath -ldflags "$ldflags" -o "$out/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd")
    mv "$out/$cmd.tmp" "$out/$cmd"
  fi
done

# --- etcd ------------------------------------------------------------------
# build_etcd_program NAME MODULE: one program of etcd's release, from its own Go module (whose
# root package is the command), in a generated module of its own under the cache.
build_etcd_program() {
  local mod="$cache/build/$1-$ETCD_VERSION"
  [ -x "$out/$1" ] && return 0
  mkdir -p "$mod"
  if [ ! -f "$mod/go.sum" ]; then
    printf 'module kubenode.local/%s\n\ngo 1.24\n' "$1" > "$mod/go.mod"
    (cd "$mod" && go get "$2@$ETCD_VERSION")
  fi
  echo "building $1 $ETCD_VERSION"
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$out/$1.tmp" "$2")
  mv "$out/$1.tmp" "$out/$1"
}
# etcd's server module is its `etcd` command (server/main.go).
build_etcd_program etcd go.etcd.io/etcd/server/v3
# etcdctl: the README's way to put a pod for the agent's --manifest-etcd-endpoints source.
build_etcd_program etcdctl go.etcd.io/etcd/etcdctl/v3

for c in etcd etcdctl kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  "$out/$c" --version >/dev/null 2>&1 || "$out/$c" version --client >/dev/null 2>&1 || "$out/$c" version >/dev/null 2>&1 || { echo "build-control-plane: $out/$c does not run" >&2; exit 1; }
done
touch "$stamp"
echo "control plane built in $out"
