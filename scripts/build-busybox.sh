#!/usr/bin/env bash
# Builds busybox for the conformance images (scripts/build-conformance-images.sh) from Debian's
# source package, at the release upstream's busybox test image uses (versions.sh), without
# Debian's patches, with Debian's static configuration.
#
# Why not Debian's busybox-static: Debian patches ash to drop environment variables whose names
# are not shell identifiers (debian/patches/temp-deb-installer-hack.patch, for its installer);
# upstream's ash keeps and exports them, and conformance specs read such variables (envFrom with
# prefixes like "1-" or "#@!") back through `sh -c env`. Why not bash as /bin/sh: other specs
# expect ash's exact error messages ("/bin/sh: can't create /file: Read-only file system").
#
# The source comes through apt (the Debian archive's signatures checked), with apt state of its
# own: the machine's sources are not changed. Cached under $KUBENODE_CACHE like the other builds.
# Usage: scripts/build-busybox.sh    (build-conformance-images.sh runs it; needs gcc, make, libc6-dev)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
die() { echo "build-busybox: $*" >&2; exit 1; }

cache=${KUBENODE_CACHE:-/var/cache/kubenode}
out="$cache/bin/busybox-$BUSYBOX_VERSION"
stamp="$out/.complete-no-standalone"
if [ -f "$stamp" ]; then
  echo "busybox $BUSYBOX_VERSION already built in $out"
  exit 0
fi
for p in gcc make bzip2 xz; do
  command -v "$p" >/dev/null || die "'$p' is not installed: apt-get install gcc make libc6-dev bzip2 xz-utils"
done

work="$cache/build/busybox-$BUSYBOX_VERSION"
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$out"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $BUSYBOX_DEBIAN_SUITE main" > "$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o APT::Sandbox::User=root)
orig="busybox_$BUSYBOX_VERSION.orig.tar.bz2"
if [ ! -f "$work/$orig" ]; then
  apt-get "${apt_opts[@]}" -q update >/dev/null
  (cd "$work" && apt-get "${apt_opts[@]}" -q source --download-only busybox >/dev/null)
  [ -f "$work/$orig" ] || die "Debian $BUSYBOX_DEBIAN_SUITE's busybox source is not $BUSYBOX_VERSION (got: $(cd "$work" && ls busybox_*.orig.tar.* 2>/dev/null))"
fi
src="$work/busybox-$BUSYBOX_VERSION"
rm -rf "$src" "$work/debian"
tar -C "$work" -xjf "$work/$orig"
tar -C "$work" -xJf "$work"/busybox_"$BUSYBOX_VERSION"-*.debian.tar.xz
# Less two options Debian's rescue shell needs and an image must not have: with them ash runs its
# own applet even where the image has the real program earlier in PATH (agnhost's netcat-openbsd
# `nc -v -z`, curl); upstream's defconfig and Alpine's leave them off.
sed -E 's/^CONFIG_(FEATURE_SH_STANDALONE|FEATURE_PREFER_APPLETS)=y$/# CONFIG_\1 is not set/' \
  "$work/debian/config/pkg/static" > "$src/.config"
echo "building busybox $BUSYBOX_VERSION (about a minute)"
# oldconfig asks about options Debian's configuration does not name: their defaults (`yes ''`,
# which then ends by SIGPIPE: hence no pipefail there).
(cd "$src" && set +o pipefail && yes '' | make oldconfig >"$work/build.log" 2>&1) || die "make oldconfig failed: see $work/build.log"
(cd "$src" && nice make -j"$(nproc)" busybox >>"$work/build.log" 2>&1) || die "make failed: see $work/build.log"
install -m 0755 "$src/busybox" "$out/busybox"
"$out/busybox" true || die "$out/busybox does not run"
file -L "$out/busybox" 2>/dev/null | grep -q dynamically && die "$out/busybox is not static (CONFIG_STATIC)"
touch "$stamp"
echo "busybox $BUSYBOX_VERSION built in $out"
