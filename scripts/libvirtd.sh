#!/usr/bin/env bash
# Start libvirt's daemons (virtlogd, libvirtd) if they are not running, for vagrant-libvirt.
# Machines without systemd (like CI's, which starts on a fresh process table) need them started
# by hand; where systemd manages libvirt we let it. Idempotent: a running daemon is left alone.
#
# Usage: sudo scripts/libvirtd.sh start|status
#
#   scripts/libvirtd.sh start     start them and wait until `virsh` answers
#   scripts/libvirtd.sh status    say whether libvirtd answers
#
# Also makes libvirt's `default` storage pool (/var/lib/libvirt/images), where vagrant-libvirt
# puts boxes and disks, when it is missing.
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
log=/var/log/kubenode-libvirtd.log
uri=qemu:///system

answers() { virsh -c "$uri" version >/dev/null 2>&1; }

start() {
  [ "$(id -u)" -eq 0 ] || { echo "libvirtd.sh: must run as root: sudo $0 start" >&2; exit 1; }
  for p in libvirtd virtlogd virsh; do
    command -v "$p" >/dev/null || { echo "libvirtd.sh: $p is missing: apt-get install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients (sudo scripts/setup.sh does it)" >&2; exit 1; }
  done
  if answers; then
    echo "libvirtd is running"
  elif command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl start virtlogd libvirtd
  else
    # -d: each daemonizes itself; virtlogd first, since libvirtd hands it every VM's console log.
    mkdir -p /var/log/libvirt /var/lib/libvirt
    # Without libvirt-daemon-system (which brings systemd units, polkit and the libvirt-qemu user),
    # libvirtd still looks that user up when it starts: make it, and run qemu as root (as libvirtd
    # itself runs), so that images anywhere are readable without relabelling.
    getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
    id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
    if ! grep -qs '^user *= *"root"' /etc/libvirt/qemu.conf; then
      mkdir -p /etc/libvirt
      printf '\n# kubenode (scripts/libvirtd.sh)\nuser = "root"\ngroup = "root"\n' >> /etc/libvirt/qemu.conf
    fi
    pgrep -x virtlogd >/dev/null || virtlogd -d
    if ! pgrep -x libvirtd >/dev/null; then
      echo "starting libvirtd (log: $log)"
      # A pid file left by a libvirtd that died with its machine makes a new one refuse to start.
      rm -f /run/libvirtd.pid
      LIBVIRT_LOG_OUTPUTS="3:file:$log" libvirtd -d
    fi
  fi
  for _ in $(seq 1 60); do answers && break; sleep 0.5; done
  answers || { echo "libvirtd.sh: libvirtd does not answer on $uri within 30 s; see $log" >&2; tail -20 "$log" >&2 2>/dev/null; exit 1; }
  if ! virsh -c "$uri" pool-info default >/dev/null 2>&1; then
    mkdir -p /var/lib/libvirt/images
    virsh -c "$uri" pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
    virsh -c "$uri" pool-autostart default >/dev/null
  fi
  local state
  state=$(virsh -c "$uri" pool-info default 2>/dev/null | awk '$1 == "State:" {print $2}')
  [ "$state" = running ] || virsh -c "$uri" pool-start default >/dev/null
  echo "libvirtd is up ($uri, storage pool default)"
}

case "${1:-start}" in
  start) start ;;
  status) if answers; then echo "libvirtd is running"; else echo "libvirtd is not running"; exit 1; fi ;;
  *) echo "usage: $0 start|status" >&2; exit 2 ;;
esac
