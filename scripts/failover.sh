#!/usr/bin/env bash
# Failover you can watch, against the cluster `npm start` brought up (or any cluster.sh cluster:
# same settings as scripts/cluster.sh). A steady loop of 20 requests per second goes to node 1's
# NodePort while it
#   (a) kills one backend's container        (the agent restarts it)
#   (b) makes one backend fail its readiness probe, then heals it
#   (c) deletes one backend pod gracefully    (preStop keeps it serving meanwhile)
#   (d) partitions a node holding backends    (until they are rescheduled), then heals it
# and prints, for each, how many requests failed and for how long, and which pods answered
# before and after.
# Usage: scripts/failover.sh [a b c d]     (default: all four, in that order)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "failover.sh: needs root (it drives Docker and the node namespaces): sudo $0 $*" >&2; exit 1; }
[ -f "$root/dist/bench/failover.js" ] || { echo "failover.sh: not built: run 'npm run build'" >&2; exit 1; }
scenarios=${*:-a b c d}
for s in $scenarios; do [[ $s =~ ^[abcd]$ ]] || { echo "failover.sh: unknown scenario '$s' (expected a, b, c, d)" >&2; exit 2; }; done
# The proxy mode decides what a failover costs (userspace mode retries another endpoint; the
# kernel modes send new connections to a dead pod until its endpoint leaves the slice): say it.
cname=${KUBENODE_CLUSTER_NAME:-kn}
if [ "$cname" = kn ]; then cdir=/var/lib/kubenode/cluster; else cdir=/var/lib/kubenode/cluster-$cname; fi
mode=$(sed -n 's/^proxy_mode=//p' "${KUBENODE_CLUSTER_DIR:-$cdir}/cluster.env" 2>/dev/null || true)
echo "failover.sh: cluster $cname, kubenode-proxy in ${mode:-iptables} mode"
exec node "$root/dist/bench/failover.js" --existing --scenarios "$(tr ' ' ',' <<<"$scenarios")"
