#!/usr/bin/env bash
# Install kubenode's CNI plugins into the standard CNI binary directory, beside Debian's
# reference plugins (which Debian puts in /usr/lib/cni; we link them into /opt/cni/bin too, so
# that one CNI_PATH holds both, as on a kubeadm-built node).
#
# Each installed plugin is a copy of bin/kubenode-cni.cjs (the launcher both plugins share) with
# the interpreter, the plugin's name and the bundle directory made absolute: a CNI runtime execs plugins with a minimal environment, and the
# launcher keeps its V8 code cache beside the bundle. The bundles are copied to $lib, so the
# installed plugins do not depend on this checkout staying where it is.
# Usage: scripts/install-cni.sh   (setup.sh runs it; CNI_BIN_DIR, default /opt/cni/bin;
#        KUBENODE_CNI_LIB_DIR, default /usr/local/lib/kubenode/cni)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${CNI_BIN_DIR:-/opt/cni/bin}
mkdir -p "$dest"
lib=${KUBENODE_CNI_LIB_DIR:-/usr/local/lib/kubenode/cni}
node_bin=$(command -v node)
mkdir -p "$lib"
for plugin in kubenode-bridge kubenode-ipam; do
  src="$root/dist/cni/$plugin.cjs"
  [ -f "$src" ] || { echo "install-cni: $src is missing: run npm run build first" >&2; exit 1; }
  if ! cmp -s "$src" "$lib/$plugin.cjs"; then
    cp "$src" "$lib/.$plugin.cjs.tmp" && mv "$lib/.$plugin.cjs.tmp" "$lib/$plugin.cjs"
    # A new bundle makes the old code cache stale (V8 would reject it anyway).
    rm -f "$lib/v8cache/$plugin-"*
  fi
  launcher="$root/bin/kubenode-cni.cjs"
  grep -q 'kubenode:bundle-dir' "$launcher" || { echo "install-cni: $launcher has no bundle-dir line" >&2; exit 1; }
  tmp="$dest/.$plugin.tmp"
  { echo "#!$node_bin"
    tail -n +2 "$launcher" | sed -e "s|^const dir = .*// kubenode:bundle-dir\$|const dir = '$lib'; // kubenode:bundle-dir|" \
          -e "s|^const name = .*// kubenode:plugin-name\$|const name = '$plugin'; // kubenode:plugin-name|"
  } > "$tmp"
  chmod 0755 "$tmp"
  mv "$tmp" "$dest/$plugin"
done
# The optional netlink backend (KUBENODE_CNI_HOST_LINK=netlink) loads the `netlink` package, a
# native addon the bundles leave out: copied beside them with what it needs at run time, so the
# installed plugins resolve it without this checkout.
for pkg in netlink node-gyp-build; do
  [ -d "$root/node_modules/$pkg" ] || { echo "install-cni: node_modules/$pkg is missing: run npm ci first" >&2; exit 1; }
  if ! diff -rq "$root/node_modules/$pkg" "$lib/node_modules/$pkg" >/dev/null 2>&1; then
    mkdir -p "$lib/node_modules"
    rm -rf "$lib/node_modules/.$pkg.tmp"
    cp -a "$root/node_modules/$pkg" "$lib/node_modules/.$pkg.tmp"
    rm -rf "$lib/node_modules/$pkg"
    mv "$lib/node_modules/.$pkg.tmp" "$lib/node_modules/$pkg"
  fi
done
if [ -d /usr/lib/cni ]; then
  for f in /usr/lib/cni/*; do
    n=$(basename "$f")
    [ -e "$dest/$n" ] || ln -s "$f" "$dest/$n"
  done
fi
echo "CNI plugins in $dest: $(ls "$dest" | tr '\n' ' ')"
