# Debian packages for the set-up scripts (setup.sh on a development machine, node-setup.sh on a
# node): install only what is missing, so a second run, or a box that already holds everything,
# runs no apt at all.
# shellcheck shell=bash

# install_missing_packages NAME...: apt-get install those of NAME... that dpkg does not list as
# installed; says which, or that none was missing.
install_missing_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    printf '\n== installing Debian packages: %s\n' "${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    printf '\n== Debian packages already installed (%d)\n' "$#"
  fi
}
