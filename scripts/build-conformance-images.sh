#!/usr/bin/env bash
# Makes the images upstream's conformance specs run, under the exact names and tags the suite asks
# for (test/utils/image/manifest.go of the pinned release, read from the Go module cache), with
# `docker import` from rootfs tarballs: no image registry is reachable here. Which image is the
# real program and which is a stand-in is listed in test/conformance/IMAGES.md.
#
# Needs scripts/build-conformance.sh first (agnhost, nnp). Each image is labelled with a hash of
# its inputs; an image whose hash matches is not made again.
# Usage: sudo scripts/build-conformance-images.sh    (setup.sh runs it, after build-conformance.sh)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
shopt -s nullglob
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
die() { echo "build-conformance-images: $*" >&2; exit 1; }

cache=${KUBENODE_CACHE:-/var/cache/kubenode}
bin="$cache/bin/conformance-$KUBERNETES_VERSION"
mod="$cache/build/conformance-$KUBERNETES_VERSION"
for b in agnhost nnp; do [ -x "$bin/$b" ] || die "$bin/$b is missing: run scripts/build-conformance.sh"; done
bash "$here/build-busybox.sh"
busybox=$cache/bin/busybox-$BUSYBOX_VERSION/busybox bash_static=/bin/bash-static
for p in "$bash_static:bash-static" /usr/bin/curl:curl /usr/bin/dig:bind9-dnsutils /bin/nc.openbsd:netcat-openbsd; do
  [ -x "${p%%:*}" ] || die "${p%%:*} is missing: apt-get install ${p#*:} (scripts/setup.sh installs it)"
done
docker version >/dev/null 2>&1 || die "Docker Engine is not running: sudo scripts/setup.sh"
k8s_dir=$(cd "$mod" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go list -m -f '{{.Dir}}' k8s.io/kubernetes)
manifest=$k8s_dir/test/utils/image/manifest.go
[ -f "$manifest" ] || die "$manifest is missing: run scripts/build-conformance.sh"

# image_ref ID: the reference the suite uses for imageutils.ID, e.g.
# `configs[Agnhost] = Config{list.PromoterE2eRegistry, "agnhost", "2.56"}` with
# `PromoterE2eRegistry: "registry.k8s.io/e2e-test-images",` -> registry.k8s.io/e2e-test-images/agnhost:2.56
image_ref() {
  local line reg name version registry
  line=$(grep -E "^\s*configs\[$1\] = Config\{" "$manifest") || die "no image $1 in $manifest"
  [[ $line =~ list\.([A-Za-z0-9]+),\ *\"([^\"]+)\",\ *\"([^\"]+)\" ]] || die "cannot read the image line '$line' of $manifest"
  reg=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]} version=${BASH_REMATCH[3]}
  registry=$(sed -nE "s/^\s*$reg:\s*\"([^\"]+)\",.*/\1/p" "$manifest" | head -1)
  [ -n "$registry" ] || die "no registry $reg in $manifest"
  echo "$registry/$name:$version"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shellcheck source=scripts/lib/rootfs.sh
. "$here/lib/rootfs.sh"
# base DIR: busybox (scripts/build-busybox.sh: upstream's ash, which keeps environment variables
# whose names are not identifiers) and its applets in /bin, the users and groups every image has.
base() { busybox_rootfs "$busybox" "$1" usr/bin usr/local/bin; }

# program DIR SRC DEST: SRC as DIR/DEST, with the shared libraries it loads (as ldd lists them)
# at their own paths, so a Debian program runs in an image without Debian.
program() {
  local dir=$1 src=$2 dest=$3 lib
  mkdir -p "$dir/$(dirname "$dest")"
  cp -L "$src" "$dir/$dest"
  for lib in $(ldd "$src" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' || true); do
    mkdir -p "$dir/$(dirname "$lib")"
    [ -e "$dir/$lib" ] || cp -L "$lib" "$dir/$lib"
  done
}

# with_bash DIR: bash as /bin/bash (/bin/sh stays busybox ash, as in upstream's Alpine images:
# specs match ash's error messages).
with_bash() {
  cp "$bash_static" "$1/bin/bash"
}

# web DIR ROOT INDEX: busybox httpd serving INDEX as ROOT/index.html on port 80 (the stand-in for
# nginx and httpd: the specs only need a server answering on port 80).
web() {
  mkdir -p "$1/$2"
  printf '%s\n' "$3" > "$1/$2/index.html"
}

# import REF DIR CHANGES...: DIR as image REF, unless REF already carries DIR's hash.
import() {
  local ref=$1 dir=$2 hash
  shift 2
  hash=$( { (cd "$dir" && find . -printf '%p %m %U %l\n' | sort); (cd "$dir" && find . -type f -print0 | sort -z | xargs -0 cat) | sha256sum; printf '%s\n' "$@"; } | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{ index .Config.Labels "kubenode.image.hash" }}' "$ref" 2>/dev/null)" = "$hash" ]; then
    echo "$ref is up to date"
    return
  fi
  local changes=(--change "LABEL kubenode.image.hash=$hash")
  while [ $# -gt 0 ]; do changes+=(--change "$1"); shift; done
  tar -C "$dir" --numeric-owner -c . | docker import "${changes[@]}" - "$ref" >/dev/null
  echo "made $ref"
}
path='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# agnhost: the real program, with the tools upstream's image (Alpine) adds and the specs call in
# it: bash, curl, dig, netcat-openbsd (`nc -z`, `nc -u`), and its users, group and files.
d=$work/agnhost; base "$d"; with_bash "$d"
cp "$bin/agnhost" "$d/agnhost"; ln -s agnhost "$d/agnhost-2"
program "$d" /usr/bin/curl usr/bin/curl
program "$d" /usr/bin/dig usr/bin/dig
program "$d" /bin/nc.openbsd usr/bin/nc
# getent: the DNS specs' /etc/hosts queries (`getent hosts NAME`); glibc's, with NSS in libc.
program "$d" /usr/bin/getent usr/bin/getent
cp "$k8s_dir/test/images/agnhost/porter/localhost.crt" "$k8s_dir/test/images/agnhost/porter/localhost.key" "$d/"
mkdir -p "$d/uploads"
echo 'user-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh' >> "$d/etc/passwd"
printf 'user-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n' >> "$d/etc/group"
import "$(image_ref Agnhost)" "$d" "$path" 'ENTRYPOINT ["/agnhost"]' 'CMD ["pause"]' 'EXPOSE 80 8080 8081 9376 5000'

# busybox: the release upstream's image has, built from source (scripts/build-busybox.sh).
d=$work/busybox; base "$d"
import "$(image_ref BusyBox)" "$d" "$path" 'CMD ["sh"]'

# jessie-dnsutils: the DNS specs' second querier; upstream is Debian with dnsutils (dig, getent).
d=$work/jessie; base "$d"; with_bash "$d"
program "$d" /usr/bin/dig usr/bin/dig
program "$d" /usr/bin/getent usr/bin/getent
import "$(image_ref JessieDnsutils)" "$d" "$path" 'CMD ["/bin/sh"]'

# nginx and httpd: stand-ins. busybox httpd serving the same index page as the real image, on the
# same port (80).
d=$work/nginx; base "$d"
web "$d" usr/share/nginx/html '<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>'
import "$(image_ref Nginx)" "$d" "$path" 'CMD ["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"]' 'EXPOSE 80'
d=$work/httpd; base "$d"
web "$d" usr/local/apache2/htdocs "$(cat "$k8s_dir/test/images/httpd/index.html")"
import "$(image_ref Httpd)" "$d" "$path" 'CMD ["httpd", "-f", "-p", "80", "-h", "/usr/local/apache2/htdocs"]' 'EXPOSE 80'

# nonewprivs: the real nnp, setuid root as upstream's image makes it.
d=$work/nonewprivs; base "$d"
install -m 4755 "$bin/nnp" "$d/usr/local/bin/nnp"
import "$(image_ref Nonewprivs)" "$d" "$path" 'CMD ["nnp"]'

# nonroot: upstream's is a Debian base whose only change is `USER 1234`.
d=$work/nonroot; base "$d"
import "$(image_ref NonRoot)" "$d" "$path" 'USER 1234' 'CMD ["/bin/sh"]'

# pause: the agent's own sandbox image under the suite's name (a PID 1 that only waits).
docker image inspect kubenode/pause:latest >/dev/null 2>&1 || die "kubenode/pause:latest is missing: run scripts/build-images.sh"
docker tag kubenode/pause:latest "$(image_ref Pause)"
echo "tagged $(image_ref Pause)"
