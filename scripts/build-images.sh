#!/usr/bin/env bash
# Build the test images and load them with `docker import` (no registry is reachable here):
#   kubenode/busybox  Debian's busybox-static with applet links (sh, httpd, nc, wget, sleep...)
#   kubenode/pause    the sandbox image: a PID 1 that reaps zombies and exits on SIGTERM
#   kubenode/demo     HTTP server answering with its pod name and IP
# Each image is labelled with a hash of its inputs; an image whose hash matches is not rebuilt.
# Usage: scripts/build-images.sh           (setup.sh runs it; needs Docker Engine running)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
shopt -s nullglob
root=$(cd "$(dirname "$0")/.." && pwd)
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build-images: $busybox is missing: apt-get install busybox-static" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'dynamically' && { echo "build-images: $busybox is not static: apt-get install busybox-static" >&2; exit 1; }
docker version >/dev/null 2>&1 || { echo "build-images: Docker Engine is not running: sudo scripts/setup.sh" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source=scripts/lib/rootfs.sh
. "$root/scripts/lib/rootfs.sh"
# rootfs DIR: a busybox userland in DIR, with /www for the demo's pages.
rootfs() { busybox_rootfs "$busybox" "$1" www; }

# build NAME HASH_INPUTS... -- IMPORT_CHANGES...: import $work/NAME as kubenode/NAME:latest.
build() {
  local name=$1; shift
  local image="kubenode/$name:latest"
  local hash
  hash=$( { sha256sum "$busybox" | cut -d' ' -f1; for f in "$root/images/$name"/* "$0" "$root/scripts/lib/rootfs.sh"; do sha256sum "$f" | cut -d' ' -f1; done; } | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{ index .Config.Labels "kubenode.image.hash" }}' "$image" 2>/dev/null)" = "$hash" ]; then
    echo "$image is up to date"
    return
  fi
  local dir="$work/$name"
  rootfs "$dir"
  [ -d "$root/images/$name" ] && for f in "$root/images/$name"/*; do install -m 0755 "$f" "$dir/$(basename "$f")"; done
  local changes=(--change "LABEL kubenode.image.hash=$hash" --change 'ENV PATH=/bin:/sbin')
  while [ $# -gt 0 ]; do changes+=(--change "$1"); shift; done
  tar -C "$dir" -c . | docker import "${changes[@]}" - "$image" >/dev/null
  echo "built $image"
}

build busybox 'CMD ["sh"]'
build pause 'ENTRYPOINT ["/pause.sh"]'
build demo 'ENTRYPOINT ["/demo.sh"]' 'EXPOSE 8080'
