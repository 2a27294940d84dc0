#!/usr/bin/env bash
# Failover you can watch, against the cluster `npm start` brought up (or any cluster.sh cluster:
# same settings as scripts/cluster.sh). A steady loop of 20 requests per second goes to node 1's
# NodePort while it
#   (a) kills one backend's container        (the agent restarts it)
#   (b) makes one backend fail its readiness probe, then heals it
#   (c) deletes one backend pod gracefully    (preStop keeps it serving meanwhile)
#   (d) partitions a node holding backends    (until they are rescheduled), then heals it
# and prints, for each, how many requests failed and for how long, and which pods answered
# before and after. Meanwhile it records what the cluster reports (Pod, EndpointSlice and Event
# watches, each node's proxy sync log lines) and draws every scenario as a timeline in one
# self-contained HTML page: every request, the pod that answered it, failures, the events and
# the measured window. Its path is printed at the end.
# Usage: scripts/failover.sh [--html FILE] [a b c d]     (default: all four, in that order;
#        the page: failover.html in the cluster's state directory)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "failover.sh: needs root (it drives Docker and the node namespaces): sudo $0 $*" >&2; exit 1; }
[ -f "$root/dist/bench/failover.js" ] || { echo "failover.sh: not built: run 'npm run build'" >&2; exit 1; }
html=
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --html) [ -n "${2:-}" ] || { echo "failover.sh: --html needs a file name" >&2; exit 2; }; html=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
scenarios=${args[*]:-a b c d}
for s in $scenarios; do [[ $s =~ ^[abcd]$ ]] || { echo "failover.sh: unknown scenario '$s' (expected a, b, c, d)" >&2; exit 2; }; done
# The proxy mode decides what a failover costs (userspace mode retries another endpoint; the
# kernel modes send new connections to a dead pod until its endpoint leaves the slice): say it.
cname=${KUBENODE_CLUSTER_NAME:-kn}
if [ "$cname" = kn ]; then cdir=/var/lib/kubenode/cluster; else cdir=/var/lib/kubenode/cluster-$cname; fi
mode=$(sed -n 's/^proxy_mode=//p' "${KUBENODE_CLUSTER_DIR:-$cdir}/cluster.env" 2>/dev/null || true)
html=${html:-${KUBENODE_CLUSTER_DIR:-$cdir}/failover.html}
echo "failover.sh: cluster $cname, kubenode-proxy in ${mode:-iptables} mode"
exec node "$root/dist/bench/failover.js" --existing --scenarios "$(tr ' ' ',' <<<"$scenarios")" --html "$html" --proxy-mode "${mode:-iptables}"
