#!/usr/bin/env bash
# Builds CoreDNS, the cluster DNS add-on (scripts/addons/coredns.yaml), from its published Go
# module at the release pinned in versions.sh, as build-control-plane.sh builds the control plane
# (only the Go module proxy is reachable here, no image registry), then loads the image
# kubenode/coredns:<version> with `docker import`: the static binary as /coredns and nothing else,
# like upstream's distroless image (which also runs /coredns -conf /etc/coredns/Corefile).
#
# Both are cached: the binary under $KUBENODE_CACHE, the image labelled with the binary's hash; a
# second run builds nothing.
# Usage: scripts/build-coredns.sh    (setup.sh runs it; KUBENODE_CACHE, default /var/cache/kubenode)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
# shellcheck source=scripts/lib/go-build.sh
. "$here/lib/go-build.sh"

cache=${KUBENODE_CACHE:-/var/cache/kubenode}
out="$cache/bin/coredns-$COREDNS_VERSION"
stamp="$out/.complete"
image=kubenode/coredns:$COREDNS_VERSION

# The image from the binary, unless an image made from this very binary is there already.
build_image() {
  command -v docker >/dev/null && docker version >/dev/null 2>&1 || { echo "build-coredns: Docker Engine is not running (needed for the $image image): sudo scripts/setup.sh" >&2; exit 1; }
  local hash
  hash=$( { sha256sum "$out/coredns" | cut -d' ' -f1; sha256sum "$0" | cut -d' ' -f1; } | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{ index .Config.Labels "kubenode.image.hash" }}' "$image" 2>/dev/null)" = "$hash" ]; then
    echo "$image is up to date"
    return
  fi
  local dir; dir=$(mktemp -d)
  mkdir -p "$dir/etc" "$dir/tmp"
  chmod 1777 "$dir/tmp"
  install -m 0755 "$out/coredns" "$dir/coredns"
  # Users for a pod that sets runAsUser (distroless has root and nonroot, 65532).
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$dir/etc/group"
  tar -C "$dir" -c . | docker import --change "LABEL kubenode.image.hash=$hash" --change 'ENTRYPOINT ["/coredns"]' \
    --change 'EXPOSE 53/udp 53/tcp 9153/tcp' - "$image" >/dev/null
  rm -rf "$dir"
  echo "built $image"
}

if [ -f "$stamp" ]; then
  echo "coredns $COREDNS_VERSION already built in $out"
  build_image
  exit 0
fi

# Static (CGO off): the image holds nothing but this binary.
go_build_env build-coredns CoreDNS 1.23
mkdir -p "$out"

mod="$cache/build/coredns-$COREDNS_VERSION"
mkdir -p "$mod"
if [ ! -f "$mod/go.sum" ]; then
  printf 'module kubenode.local/coredns\n\ngo 1.23\n' > "$mod/go.mod"
  # CoreDNS's main package is its module root; its plugin list (core/plugin/zplugin.go) is
  # generated and committed upstream, so the published module builds as released.
  (cd "$mod" && go get "github.com/coredns/coredns@$COREDNS_VERSION")
fi
echo "building coredns $COREDNS_VERSION (first time only; a few minutes)"
# GitCommit is what `coredns -version` prints beside the release.
(cd "$mod" && go build -trimpath -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" -o "$out/coredns.tmp" github.com/coredns/coredns)
mv "$out/coredns.tmp" "$out/coredns"
"$out/coredns" -version >/dev/null 2>&1 || { echo "build-coredns: $out/coredns does not run" >&2; exit 1; }
touch "$stamp"
echo "coredns built in $out"
build_image
