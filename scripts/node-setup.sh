#!/usr/bin/env bash
# Make a machine a kubenode node (what the Vagrant VMs run; scripts/setup.sh stays the set-up of
# a development machine).
# Usage:
#   sudo scripts/node-setup.sh                  a worker: Docker, iptables/ipset/ipvsadm/conntrack,
#                                               iproute2, the CNI plugins, Node.js, the images
#   sudo scripts/node-setup.sh --control-plane  also openssl and Go, and builds the control plane
#                                               (scripts/build-control-plane.sh; long)
# Idempotent; on the kubenode/bookworm box (scripts/vagrant-box.sh) every package is already
# there and it only checks. What it cannot find it takes from Debian's packages, the npm registry
# (Node.js $NODE_VERSION, when the distribution's is older: bookworm has 18) and the Go module
# proxy (Go $GO_VERSION, when the distribution's is older: bookworm has 1.19).
#
# The project's build (dist/, node_modules/ with netlink's prebuilt binary) is made once, on the
# host, and arrives through the synced folder; a node does not run npm.
#
# Settings (environment):
#   KUBENODE_HOST_FILES  what the host puts in the synced folder for its VMs (default
#                        <project>/.vagrant-kubenode): images.tar (docker load), ca/*.crt (the
#                        host's extra CA certificates, e.g. a proxy that re-signs HTTPS)
#   KUBENODE_HOST_CONTROL_PLANE_BIN  (--control-plane) the host's build of the control plane, when
#                        the Vagrantfile synced one (default /vagrant-control-plane-bin): used
#                        instead of installing Go and building
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
# shellcheck source=scripts/lib/nodejs.sh
. "$here/lib/nodejs.sh"
# shellcheck source=scripts/lib/apt.sh
. "$here/lib/apt.sh"

role=worker
case "${1:-}" in
  "") ;;
  --control-plane) role=control-plane ;;
  *) echo "node-setup.sh: unknown argument '$1' (expected --control-plane or nothing)" >&2; exit 2 ;;
esac
host_files=${KUBENODE_HOST_FILES:-$root/.vagrant-kubenode}
host_cp_bin=${KUBENODE_HOST_CONTROL_PLANE_BIN:-/vagrant-control-plane-bin}
downloads=${KUBENODE_CACHE:-/var/cache/kubenode}/downloads
step() { printf '\n== node-setup (%s): %s\n' "$role" "$*"; }
die() { echo "node-setup.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "must run as root: sudo $0 $*"

# install_go: Go $GO_VERSION into /usr/local/lib/go-$GO_VERSION, from the Go module proxy's
# golang.org/toolchain module (what `go` itself downloads for GOTOOLCHAIN), its zip checked
# against the checksum database's h1: hash (read through the proxy) before it is used.
install_go() {
  local proxy mod ver url dest tmp want got
  proxy=${GOPROXY:-https://proxy.golang.org}; proxy=${proxy%%,*}; proxy=${proxy%/}
  mod=golang.org/toolchain ver="v0.0.1-go$GO_VERSION.linux-amd64"
  dest=/usr/local/lib/go-$GO_VERSION
  if [ -x "$dest/bin/go" ]; then export PATH=$dest/bin:$PATH; return 0; fi
  tmp=$(mktemp -d)
  echo "downloading $mod@$ver from $proxy"
  curl -fsSL -o "$tmp/go.zip" "$proxy/$mod/@v/$ver.zip" || die "download of $mod@$ver failed"
  want=$(curl -fsSL "$proxy/sumdb/sum.golang.org/lookup/$mod@$ver" | awk -v m="$mod" -v v="$ver" '$1 == m && $2 == v { print $3; exit }')
  [ -n "$want" ] || die "no checksum for $mod@$ver from $proxy/sumdb/sum.golang.org"
  (cd "$tmp" && unzip -q go.zip -d x)
  # The module's h1: hash (golang.org/x/mod/sumdb/dirhash Hash1): sha256 of the sorted
  # "SHA256  NAME" lines of every file in the zip.
  got=h1:$(cd "$tmp/x" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | tr '\n' '\0' | xargs -0 sha256sum |
    sha256sum | cut -d' ' -f1 | tr a-f A-F | basenc --base16 -d | base64 -w0)
  [ "$got" = "$want" ] || { rm -rf "$tmp"; die "$mod@$ver does not match the checksum database ($got, expected $want): not installed"; }
  rm -rf "$dest" && mv "$tmp/x/$mod@$ver" "$dest" && rm -rf "$tmp"
  # Module zips carry no file modes; `go` marks a toolchain's programs executable the same way.
  chmod +x "$dest"/bin/* "$dest"/pkg/tool/*/*
  export PATH=$dest/bin:$PATH
}

# --- the host's extra CA certificates -------------------------------------------------------
# Before anything downloads: a VM behind the same re-signing proxy as its host trusts what the
# host trusts. Node.js reads its own CA list, hence NODE_EXTRA_CA_CERTS.
if compgen -G "$host_files/ca/*.crt" >/dev/null; then
  step "trusting the host's extra CA certificates: $(cd "$host_files/ca" && echo *.crt)"
  mkdir -p /usr/local/share/ca-certificates/kubenode-host
  cp "$host_files"/ca/*.crt /usr/local/share/ca-certificates/kubenode-host/
  update-ca-certificates >/dev/null
  grep -q '^NODE_EXTRA_CA_CERTS=' /etc/environment 2>/dev/null ||
    echo 'NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' >> /etc/environment
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  echo "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt (in /etc/environment)"
fi

# --- Debian packages ------------------------------------------------------------------------
# The same list scripts/vagrant-box.sh puts in the box (nftables: --proxy-mode nftables and
# kubenode-trace), so that a worker VM booted from that box runs no apt at all.
# apparmor: on a kernel with AppArmor on, Docker starts no container without its profile loaded.
packages=(docker.io apparmor iptables ipset ipvsadm nftables conntrack iproute2 containernetworking-plugins ca-certificates curl rsync kmod procps)
# unzip: only to install Go, which a control plane with the host's build does not need.
[ "$role" = control-plane ] && packages+=(openssl)
[ "$role" = control-plane ] && [ ! -f "$host_cp_bin/.complete-etcd-$ETCD_VERSION-etcdctl" ] && packages+=(unzip)
install_missing_packages "${packages[@]}"

# --- Node.js --------------------------------------------------------------------------------
if nodejs_ok; then
  step "Node.js $(node --version)"
else
  step "Node.js $NODE_VERSION from the npm registry (this machine has $(node --version 2>/dev/null || echo none))"
  nodejs_install "$(nodejs_fetch "$downloads")" ""
  hash -r
  nodejs_ok || die "node on PATH is still $(node --version 2>/dev/null || echo missing) after installing $NODE_VERSION into /usr/local/bin"
fi

# --- Docker Engine --------------------------------------------------------------------------
step "Docker Engine"
# kubenode wires pods with CNI and owns the iptables rules: Docker's would set FORWARD to DROP
# (scripts/dockerd.sh says more). The agent places pods under cgroupfs-style parents (as kubelet
# with cgroupDriver cgroupfs), so Docker must use the same driver; on a systemd machine Docker
# defaults to the systemd driver, which refuses a parent that is not a ".slice".
want='{ "iptables": false, "ip6tables": false, "exec-opts": ["native.cgroupdriver=cgroupfs"] }'
if [ "$(tr -d ' \n' </etc/docker/daemon.json 2>/dev/null)" != "$(tr -d ' \n' <<<"$want")" ]; then
  mkdir -p /etc/docker && echo "$want" > /etc/docker/daemon.json
  docker version >/dev/null 2>&1 && { systemctl restart docker 2>/dev/null || true; }
fi
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl enable --now docker >/dev/null 2>&1 || systemctl start docker
fi
bash "$here/dockerd.sh" start

# --- the build, from the host ---------------------------------------------------------------
step "kubenode build (dist/, node_modules/ from the synced folder)"
for f in dist/agent/main.js dist/proxy/main.js dist/cni/kubenode-bridge.cjs node_modules/netlink; do
  [ -e "$root/$f" ] || die "$root/$f is missing: build on the host first (npm ci && npm run build); the synced folder brings dist/ and node_modules/ to every VM"
done
echo "found in $root"

step "CNI plugins into /opt/cni/bin"
bash "$here/install-cni.sh"

# --- images ---------------------------------------------------------------------------------
step "images"
if [ -f "$host_files/images.tar" ]; then
  # docker load of images already present only re-tags them: cheap, and keeps them current.
  docker load -q -i "$host_files/images.tar"
else
  bash "$here/build-images.sh"
fi

# --- the control plane ----------------------------------------------------------------------
# The host's build when the Vagrantfile brought one (it has a complete build of the pinned
# release), else Go and a build from source here.
cp_bin=${KUBENODE_CACHE:-/var/cache/kubenode}/bin/k8s-$KUBERNETES_VERSION
if [ "$role" = control-plane ] && [ -f "$host_cp_bin/.complete-etcd-$ETCD_VERSION-etcdctl" ]; then
  step "control plane binaries: the host's build of $KUBERNETES_VERSION (from $host_cp_bin)"
  mkdir -p "$cp_bin"
  cp -a "$host_cp_bin/." "$cp_bin/"
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    "$cp_bin/$c" --version >/dev/null || die "$cp_bin/$c (the host's build) does not run here"
  done
  "$cp_bin/kubectl" version --client >/dev/null || die "$cp_bin/kubectl (the host's build) does not run here"
  echo "in $cp_bin"
elif [ "$role" = control-plane ]; then
  step "Go $GO_VERSION"
  export PATH=/usr/local/go/bin:$PATH
  have=$(go env GOVERSION 2>/dev/null || true)
  if [ "$(printf '%s\n%s\n' "go$GO_VERSION" "${have:-go0}" | sort -V | head -1)" != "go$GO_VERSION" ]; then
    install_go
  fi
  go version
  step "control plane binaries"
  bash "$here/build-control-plane.sh"
fi
step "done"
