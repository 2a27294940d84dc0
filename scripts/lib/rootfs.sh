# The busybox userland every locally made image starts from (no registry is reachable here, so
# images are rootfs directories loaded with `docker import`). Sourced by build-images.sh and
# build-conformance-images.sh.
# shellcheck shell=bash

# busybox_rootfs BUSYBOX DIR [EXTRA_DIR...]: BUSYBOX and its applet links in DIR/bin, the
# directories a container expects (and EXTRA_DIRs), root and nobody, names from files then DNS.
busybox_rootfs() {
  local busybox=$1 dir=$2 applet d
  shift 2
  mkdir -p "$dir"/{bin,sbin,etc,tmp,proc,sys,dev,root,var/run}
  for d in "$@"; do mkdir -p "$dir/$d"; done
  chmod 1777 "$dir/tmp"
  cp "$busybox" "$dir/bin/busybox"
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$dir/etc/group"
  printf 'hosts: files dns\n' > "$dir/etc/nsswitch.conf"
}
