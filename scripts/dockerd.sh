#!/usr/bin/env bash
# Start Docker Engine if it is not running. Machines without systemd (like CI's) need dockerd
# started by hand; where systemd manages docker we let it.
#
# dockerd runs with --iptables=false: kubenode's pods are created with no Docker network (the
# CNI plugin wires them), and Docker's own iptables rules would set the FORWARD policy to DROP
# and add chains that have nothing to do with Kubernetes, hiding ours when people read
# `iptables-save`. A dockerd that is already running is left as it is.
# Usage: scripts/dockerd.sh [start]
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
sock=/var/run/docker.sock
log=/var/log/kubenode-dockerd.log

running() { docker version >/dev/null 2>&1; }

case "${1:-start}" in
  start)
    if running; then echo "dockerd is running"; exit 0; fi
    command -v dockerd >/dev/null || { echo "dockerd is not installed: apt-get install docker.io (sudo scripts/setup.sh does it)" >&2; exit 1; }
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
      systemctl start docker
    else
      echo "starting dockerd (log: $log)"
      # setsid: dockerd outlives this script and the shell that ran it.
      setsid dockerd --iptables=false --ip6tables=false >>"$log" 2>&1 < /dev/null &
    fi
    for _ in $(seq 1 60); do running && { echo "dockerd is up"; exit 0; }; sleep 0.5; done
    echo "dockerd did not come up within 30 s; see $log" >&2
    tail -20 "$log" >&2 || true
    exit 1
    ;;
  *) echo "usage: $0 start" >&2; exit 2 ;;
esac
