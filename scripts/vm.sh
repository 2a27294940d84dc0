#!/usr/bin/env bash
# A small virtual machine for tests that need kernel features this machine's kernel lacks (IPVS).
#
# Usage:
#   scripts/vm.sh prepare            fetch Debian's kernel package and build an initramfs (cached)
#   scripts/vm.sh run -- COMMAND...  boot it, run COMMAND from the project root, return its
#                                    stdout, stderr and exit status
#   scripts/vm.sh info               print what is cached
#
# The guest is this machine itself, seen through another kernel: qemu boots Debian's packaged
# kernel (which ships the ip_vs modules) with software emulation (TCG; no KVM is assumed), the
# host's root filesystem is shared read-only over virtio-9p with a tmpfs overlay on top so the
# guest can write, and /proc /sys /dev /run /tmp are fresh. Node.js, iptables, ipset, ipvsadm and
# the project's dist/ are therefore the very same files as on the host. There is no network device:
# the guest reaches nothing outside itself. COMMAND's stdout and stderr travel back over two
# virtio-serial ports, its exit status over a third.
#
# Environment: KUBENODE_VM_CACHE (default /var/cache/kubenode/vm), KUBENODE_VM_MEMORY (MiB, 2048),
# KUBENODE_VM_CPUS (2), KUBENODE_VM_TIMEOUT (seconds, 1800), KUBENODE_VM_CONSOLE=1 (copy the
# guest's console to stderr), KUBENODE_VM_ENV (names of extra variables to pass into the guest).
# Inside the guest, KUBENODE_VM=1 is set.
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
self="$root/scripts/vm.sh"
cache=${KUBENODE_VM_CACHE:-/var/cache/kubenode/vm}

die() { echo "vm.sh: $*" >&2; exit 1; }

# Modules the initramfs needs to mount the shared root (dependencies are added from modules.dep).
boot_modules=(virtio_pci virtio_console 9pnet_virtio 9p overlay)
# Modules loaded in the guest before COMMAND runs. Anything else (xt_* matches, ip_set types...)
# the kernel loads on demand through the guest's /sbin/modprobe, which sees the unpacked modules.
guest_modules=(ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_dh ip_vs_sed ip_vs_nq
  ip_vs_lblc ip_vs_lblcr ip_vs_fo ip_vs_ovf ip_vs_mh nf_conntrack nf_nat nf_tables nft_compat
  nft_chain_nat ip_tables iptable_filter iptable_nat iptable_mangle ip_set ip_set_hash_ip
  ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet ip_set_hash_net ip_set_bitmap_port
  xt_set xt_conntrack xt_comment xt_mark xt_addrtype xt_MASQUERADE xt_statistic xt_recent
  nf_reject_ipv4 nft_reject_ipv4 dummy veth bridge br_netfilter)

# The stamp records what a prepared cache was built from: this script and the kernel version.
script_hash() { sha256sum "$self" | cut -c1-16; }

prepared_kernel() {
  [ -f "$cache/ready" ] || return 1
  local hash kver
  read -r hash kver < "$cache/ready" || return 1
  [ "$hash" = "$(script_hash)" ] && [ -f "$cache/kernel/$kver/boot/vmlinuz-$kver" ] && [ -f "$cache/initrd-$kver.img" ] || return 1
  echo "$kver"
}

# The versioned kernel package linux-image-amd64 currently depends on, e.g. linux-image-6.1.0-56-amd64.
resolve_kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

prepare() {
  local kver
  if kver=$(prepared_kernel); then
    echo "VM is ready: kernel $kver in $cache"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "prepare needs root (it writes $cache and may run apt-get): sudo scripts/vm.sh prepare"
  for p in apt-get apt-cache dpkg-deb depmod modprobe cpio gzip; do
    command -v "$p" >/dev/null || die "$p is missing: apt-get install kmod cpio gzip (or run sudo scripts/setup.sh)"
  done
  [ -x /bin/busybox ] && ! file -L /bin/busybox 2>/dev/null | grep -q dynamically \
    || die "/bin/busybox (static) is missing: apt-get install busybox-static"
  mkdir -p "$cache"

  local pkg
  pkg=$(resolve_kernel_package)
  if [ -z "$pkg" ]; then
    echo "vm.sh: refreshing the package lists to resolve linux-image-amd64"
    apt-get update -q >/dev/null
    pkg=$(resolve_kernel_package)
  fi
  [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package (apt-cache depends linux-image-amd64 found nothing)"
  kver=${pkg#linux-image-}

  # 1. The kernel package, downloaded (not installed) and unpacked into the cache.
  local kdir="$cache/kernel/$kver"
  if [ ! -f "$kdir/boot/vmlinuz-$kver" ]; then
    local dl="$cache/download"
    rm -rf "$dl" && mkdir -p "$dl"
    # apt drops privileges to _apt for downloads; let it write there.
    id _apt >/dev/null 2>&1 && chown _apt "$dl"
    echo "vm.sh: downloading $pkg"
    (cd "$dl" && apt-get download -q "$pkg") || die "apt-get download $pkg failed"
    local deb
    deb=$(ls "$dl"/*.deb | head -1)
    rm -rf "$kdir.tmp" && mkdir -p "$kdir.tmp"
    dpkg-deb -x "$deb" "$kdir.tmp"
    # Bookworm's package ships /lib/modules; later releases ship /usr/lib/modules.
    [ -d "$kdir.tmp/lib/modules/$kver" ] || { mkdir -p "$kdir.tmp/lib/modules" && mv "$kdir.tmp/usr/lib/modules/$kver" "$kdir.tmp/lib/modules/"; }
    depmod -b "$kdir.tmp" "$kver"
    rm -rf "$kdir" && mv "$kdir.tmp" "$kdir"
    rm -rf "$dl"
    # Kernels of older versions are no longer needed.
    for old in "$cache"/kernel/*; do [ "$old" = "$kdir" ] || rm -rf "$old"; done
  fi

  # 2. The initramfs: busybox, the modules that mount the root, and the two init scripts.
  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  mkdir -p "$work"/{bin,proc,sys,dev,lower,rw,newroot,modules}
  cp /bin/busybox "$work/bin/busybox"
  ln -s busybox "$work/bin/sh"
  local m path
  : > "$work/modules.load"
  for m in "${boot_modules[@]}"; do
    # --show-depends lists "insmod PATH" lines, dependencies first.
    while read -r _ path _; do
      local name
      name=$(basename "$path")
      [ -f "$work/modules/$name" ] && continue
      cp "$path" "$work/modules/$name"
      echo "$name" >> "$work/modules.load"
    done < <(modprobe -d "$kdir" -S "$kver" --show-depends "$m" | grep '^insmod ')
  done
  printf '%s\n' "${guest_modules[@]}" > "$work/guest-modules"
  write_init > "$work/init"
  write_stage2 > "$work/stage2.sh"
  chmod 0755 "$work/init" "$work/stage2.sh"
  (cd "$work" && find . | sort | cpio -o -H newc --quiet | gzip -1) > "$cache/initrd-$kver.img.tmp"
  rm -f "$cache"/initrd-*.img
  mv "$cache/initrd-$kver.img.tmp" "$cache/initrd-$kver.img"
  echo "$(script_hash) $kver" > "$cache/ready"
  echo "VM is ready: kernel $kver in $cache"
}

# PID 1 of the initramfs (busybox sh): mount the host's root read-only with a tmpfs overlay, give
# it fresh /proc /sys /dev /run /tmp and the unpacked modules, then switch to it.
write_init() {
  cat <<'EOF'
#!/bin/sh
export PATH=/bin
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
fail() { echo "kubenode-vm init: $*" > /dev/console; echo b > /proc/sysrq-trigger; $bb sleep 60; }
for arg in $($bb cat /proc/cmdline); do
  case $arg in
    kubenode.run=*) run=${arg#kubenode.run=} ;;
    kubenode.cache=*) cache=${arg#kubenode.cache=} ;;
    kubenode.root=*) root=${arg#kubenode.root=} ;;
    kubenode.debug) set -x ;;
  esac
done
kver=$($bb uname -r)
for m in $($bb cat /modules.load); do $bb insmod /modules/$m || fail "insmod $m failed"; done
$bb mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=512000 hostroot /lower || fail "mounting the host's root over 9p failed"
$bb mount -t tmpfs -o mode=0755 rw /rw
$bb mkdir -p /rw/upper /rw/work
$bb mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "overlay mount failed"
n=/newroot
$bb mount -t proc proc $n/proc
$bb mount -t sysfs sysfs $n/sys
$bb mount -t devtmpfs devtmpfs $n/dev
$bb mkdir -p $n/dev/pts $n/dev/shm
$bb mount -t devpts -o newinstance,ptmxmode=0666 devpts $n/dev/pts
$bb mount -t tmpfs -o mode=1777 shm $n/dev/shm
$bb mount -t tmpfs -o mode=0755 run $n/run
$bb mount -t tmpfs -o mode=1777 tmp $n/tmp
$bb mkdir -p $n/run/lock $n/run/netns $n/run/kubenode-vm $n/lib/modules/$kver
# A project checked out under /tmp or /run (CI's fresh clone may be) is hidden by the fresh
# mounts above: give it back at the same path, writable through an overlay of its own.
case $root in
  /tmp/*|/run/*)
    $bb mkdir -p /rw/project-upper /rw/project-work $n$root
    $bb mount -t overlay overlay -o lowerdir=/lower$root,upperdir=/rw/project-upper,workdir=/rw/project-work $n$root || fail "project overlay for $root failed"
    ;;
esac
# The host may or may not have this kernel's modules installed; the cache always has them.
$bb mount --bind /lower$cache/kernel/$kver/lib/modules/$kver $n/lib/modules/$kver || fail "no modules for $kver"
$bb cp /lower$run/cmd.sh $n/run/kubenode-vm/ || fail "run directory $run not found"
$bb cp /stage2.sh /guest-modules $n/run/kubenode-vm/
$bb umount /proc /sys
$bb umount /dev
exec $bb switch_root $n /bin/bash /run/kubenode-vm/stage2.sh
EOF
}

# PID 1 after switch_root (the host's bash): load modules, run COMMAND with its output on the
# virtio-serial ports, report its exit status, power off.
write_stage2() {
  cat <<'EOF'
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
dir=/run/kubenode-vm
port() { local p; for p in /sys/class/virtio-ports/*; do [ "$(cat "$p/name")" = "$1" ] && { echo "/dev/${p##*/}"; return; }; done; }
out=$(port kubenode.stdout); err=$(port kubenode.stderr); status=$(port kubenode.status)
[ -n "$out" ] && [ -n "$err" ] && [ -n "$status" ] || { echo "kubenode-vm: virtio-serial ports missing" > /dev/console; echo b > /proc/sysrq-trigger; }
ip link set lo up
hostname kubenode-vm
mapfile -t mods < "$dir/guest-modules"
modprobe -a "${mods[@]}" 2>/dev/console || echo "kubenode-vm: some modules did not load" > /dev/console
echo "kubenode-vm: booted in $(cut -d' ' -f1 /proc/uptime)s" > /dev/console
# cmd.sh (written by the host) sets the working directory, the environment and argv.
( . "$dir/cmd.sh" ) < /dev/null > "$out" 2> "$err"
code=$?
echo "$code" > "$status"
sync
echo b > /proc/sysrq-trigger
EOF
}

run_vm() {
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || die "usage: scripts/vm.sh run -- COMMAND [ARGS...]"
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing: apt-get install qemu-system-x86 (or run sudo scripts/setup.sh)"
  local kver
  if ! kver=$(prepared_kernel); then
    [ "$(id -u)" -eq 0 ] || die "the VM is not prepared: sudo scripts/vm.sh prepare"
    prepare >&2
    kver=$(prepared_kernel) || die "prepare did not produce a kernel"
  fi
  local kdir="$cache/kernel/$kver"
  local tmp
  tmp=$(mktemp -d /tmp/kubenode-vm.XXXXXX)
  chmod 0755 "$tmp"
  local qpid="" relays=()
  cleanup() {
    if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; fi
    for r in "${relays[@]}"; do kill "$r" 2>/dev/null || true; done
    rm -rf "$tmp"
  }
  trap cleanup EXIT
  # Stopped from outside (a test's time limit): say how far the guest got.
  trap 'echo "vm.sh: stopped by a signal after $((SECONDS - ${start:-SECONDS}))s; the console ends:" >&2; tail -n 20 "${console:-/dev/null}" >&2 2>/dev/null; exit 130' INT TERM

  # cmd.sh: argv and environment, quoted by bash itself so any argument survives.
  {
    printf 'cd %q || exit 126\n' "$root"
    printf 'export HOME=/root TERM=dumb KUBENODE_VM=1 LANG=%q\n' "${LANG:-C.UTF-8}"
    local v
    for v in CI NODE_OPTIONS ${KUBENODE_VM_ENV:-}; do
      [ -n "${!v+x}" ] && printf 'export %s=%q\n' "$v" "${!v}"
    done
    printf 'exec'
    printf ' %q' "$@"
    printf '\n'
  } > "$tmp/cmd.sh"

  local accel=${KUBENODE_VM_ACCEL:-tcg,thread=multi}
  # qboot (from qemu-system-data) starts a -kernel boot faster than SeaBIOS does.
  local firmware=()
  [ -f /usr/share/qemu/qboot.rom ] && firmware=(-bios qboot.rom)
  local console="$tmp/console.log"
  local start=$SECONDS
  # Under software emulation a guest boot now and then stalls before init runs (a few times in
  # CI runs here: the test's own limit ended it with nothing run). The guest prints "kubenode-vm: booted" before it starts
  # COMMAND, so a boot that has not printed it within KUBENODE_VM_BOOT_TIMEOUT has run nothing
  # and can safely be stopped and made once more.
  local boot_timeout=${KUBENODE_VM_BOOT_TIMEOUT:-60} attempt qrc booted
  for attempt in 1 2; do
    # Output ports: fifos that relays copy to our stdout and stderr as the guest writes.
    rm -f "$tmp"/stdout.* "$tmp"/stderr.* "$tmp/status" "$console"
    mkfifo "$tmp/stdout.in" "$tmp/stdout.out" "$tmp/stderr.in" "$tmp/stderr.out"
    cat "$tmp/stdout.out" &
    relays+=($!)
    cat "$tmp/stderr.out" >&2 &
    relays+=($!)

    timeout -k 5 "${KUBENODE_VM_TIMEOUT:-1800}" qemu-system-x86_64 \
      -nodefaults -no-user-config -nographic -no-reboot \
      -machine q35 "${firmware[@]}" -accel "$accel" -cpu max -smp "${KUBENODE_VM_CPUS:-2}" -m "${KUBENODE_VM_MEMORY:-2048}" \
      -kernel "$kdir/boot/vmlinuz-$kver" -initrd "$cache/initrd-$kver.img" \
      -append "console=ttyS0 panic=-1 ${KUBENODE_VM_KARGS:-quiet loglevel=4} mitigations=off random.trust_cpu=on edd=off tsc=reliable no_timer_check kubenode.run=$tmp kubenode.cache=$cache kubenode.root=$root" \
      -serial "file:$console" -monitor none \
      -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
      -device virtio-serial-pci \
      -chardev "pipe,id=stdout,path=$tmp/stdout" -device virtserialport,chardev=stdout,name=kubenode.stdout \
      -chardev "pipe,id=stderr,path=$tmp/stderr" -device virtserialport,chardev=stderr,name=kubenode.stderr \
      -chardev "file,id=status,path=$tmp/status" -device virtserialport,chardev=status,name=kubenode.status \
      < /dev/null &
    qpid=$!
    booted=0
    local boot_start=$SECONDS
    while kill -0 "$qpid" 2>/dev/null; do
      if grep -q 'kubenode-vm: booted' "$console" 2>/dev/null; then booted=1; break; fi
      if [ $((SECONDS - boot_start)) -ge "$boot_timeout" ]; then
        echo "vm.sh: the guest did not boot within ${boot_timeout}s (attempt $attempt); stopping it. Its console:" >&2
        tail -n 20 "$console" >&2 2>/dev/null || true
        kill "$qpid" 2>/dev/null || true
        break
      fi
      sleep 0.2
    done
    qrc=0
    wait "$qpid" || qrc=$?
    qpid=""
    # qemu held the fifos' write side; now that it is gone the relays read to the end and stop.
    # Opening and closing each fifo once more releases a relay whose qemu never started.
    local f
    for f in stdout.out stderr.out; do exec 3<>"$tmp/$f"; exec 3>&-; done
    wait "${relays[@]}" 2>/dev/null || true
    relays=()
    # A guest that booted ran COMMAND: its result stands, whatever it is.
    if [ "$booted" = 1 ] || grep -q 'kubenode-vm: booted' "$console" 2>/dev/null; then break; fi
    [ "$attempt" = 1 ] && echo "vm.sh: booting the VM once more" >&2
  done
  [ "${KUBENODE_VM_CONSOLE:-0}" = 1 ] && cat "$console" >&2
  local code
  code=$(tr -dc '0-9' < "$tmp/status" 2>/dev/null || true)
  if [ -z "$code" ]; then
    echo "vm.sh: the VM ended without an exit status (qemu exit $qrc after $((SECONDS - start))s); its console:" >&2
    tail -n 40 "$console" >&2 || true
    exit 125
  fi
  exit "$code"
}

info() {
  local kver
  if kver=$(prepared_kernel); then
    echo "kernel $kver; cache $cache ($(du -sh "$cache" | cut -f1))"
  else
    echo "not prepared (run: sudo scripts/vm.sh prepare)"
    return 1
  fi
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run_vm "$@" ;;
  info) info ;;
  *) die "usage: scripts/vm.sh prepare | run -- COMMAND [ARGS...] | info" ;;
esac
