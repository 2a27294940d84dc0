#!/usr/bin/env bash
# One command to make this machine able to build, test and run kubenode:
# Usage: sudo scripts/setup.sh
# Idempotent: every step checks first and does nothing when its work is already done, so a
# second run takes seconds. Installs only from Debian's packages, the npm registry and Go modules.
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n== %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh must run as root (it installs packages and starts dockerd): sudo scripts/setup.sh" >&2
  exit 1
fi

# --- Debian packages ----------------------------------------------------------------------
# docker.io: the container runtime the agent drives. iptables/ipset/ipvsadm/conntrack/nftables:
# what the proxy programs (nft for --proxy-mode nftables; kubenode-trace reads nft's packet tracing).
# iproute2: namespaces and links. busybox-static: the test images' userland.
# containernetworking-plugins: Debian's reference CNI plugins (bridge, host-local, portmap,
# bandwidth), used beside ours in tests. qemu-system-x86 + a Debian kernel: the VM that IPVS
# tests boot, because this machine's kernel has no IPVS. openssl: control-plane certificates.
# vagrant: `vagrant validate` of our Vagrantfile. util-linux: nsenter (tests, port-forward).
# bsdutils: script(1), a terminal for the `kubectl exec -t` test. bash-static, bind9-dnsutils
# (dig), netcat-openbsd: tools upstream's conformance images carry (test/conformance/IMAGES.md);
# gcc, make, libc6-dev, bzip2, xz-utils: the images' busybox is built from source (build-busybox.sh).
# vagrant-libvirt, libvirt-daemon(-driver-qemu), libvirt-clients, dnsmasq-base, qemu-utils, rsync:
# Vagrant VMs as nodes under libvirt (without libvirt-daemon-system, which wants systemd);
# mmdebstrap, grub-pc-bin, fdisk: scripts/vagrant-box.sh builds their box from Debian packages.
# wrk: the HTTP load of bench/proxy-modes (requests per second through a ClusterIP, per proxy mode).
# chromium: the headless browser (driven by npm's playwright-core) that opens the failover page
# in the e2e test and takes docs/failover.png (scripts/failover-screenshot.sh).
packages=(docker.io iptables ipset ipvsadm nftables iproute2 conntrack busybox-static containernetworking-plugins
          qemu-system-x86 openssl util-linux bsdutils curl ca-certificates kmod e2fsprogs cpio zstd vagrant
          bash-static bind9-dnsutils netcat-openbsd gcc make libc6-dev bzip2 xz-utils
          vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients dnsmasq-base qemu-utils rsync
          mmdebstrap grub-pc-bin fdisk wrk chromium)
# shellcheck source=scripts/lib/apt.sh
. "$root/scripts/lib/apt.sh"
install_missing_packages "${packages[@]}"

# --- Docker Engine ------------------------------------------------------------------------
step "Docker Engine"
bash "$root/scripts/dockerd.sh" start

# --- npm dependencies and the TypeScript build ------------------------------------------
step "npm dependencies"
lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [ -f node_modules/.kubenode-lock-hash ] && [ "$(cat node_modules/.kubenode-lock-hash)" = "$lock_hash" ]; then
  echo "node_modules matches package-lock.json"
else
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.kubenode-lock-hash
fi
step "TypeScript build"
npm run --silent build

# --- CNI plugins --------------------------------------------------------------------------
step "CNI plugins into /opt/cni/bin"
bash "$root/scripts/install-cni.sh"

# --- test images --------------------------------------------------------------------------
step "test images"
bash "$root/scripts/build-images.sh"

# --- the control plane, from upstream sources ----------------------------------------------
step "control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd)"
bash "$root/scripts/build-control-plane.sh"

# --- upstream kube-proxy, for the side-by-side benchmarks ----------------------------------
step "upstream kube-proxy (bench/proxy-upstream.ts runs it beside kubenode-proxy)"
bash "$root/scripts/build-kube-proxy.sh"

# --- cluster DNS, from upstream sources ---------------------------------------------------
step "cluster DNS (CoreDNS binary and the kubenode/coredns image)"
bash "$root/scripts/build-coredns.sh"

# --- upstream's conformance suite ----------------------------------------------------------
step "conformance suite (e2e.test, ginkgo, agnhost, nnp) and its images"
bash "$root/scripts/build-conformance.sh"
bash "$root/scripts/build-conformance-images.sh"

# --- the IPVS test VM's kernel -------------------------------------------------------------
if [ -x "$root/scripts/vm.sh" ]; then
  step "IPVS test VM (Debian kernel for qemu)"
  bash "$root/scripts/vm.sh" prepare
fi

# --- Vagrant VMs as nodes ------------------------------------------------------------------
step "Vagrant VMs: libvirt's daemons and the kubenode/bookworm box"
bash "$root/scripts/libvirtd.sh" start
bash "$root/scripts/vagrant-box.sh"

step "setup complete"
