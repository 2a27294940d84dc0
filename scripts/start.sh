#!/usr/bin/env bash
# `npm start`: a two-node emulated cluster (scripts/cluster.sh) with the demo app, a Deployment
# of 3 replicas behind a NodePort Service (scripts/demo.yaml); ends with the curl commands to
# try and how to tear down. Needs root and a machine prepared by `sudo scripts/setup.sh`.
# Usage: sudo npm start      (or: sudo scripts/start.sh)
#   KUBENODE_START_NODES (2)   how many nodes
#   plus every setting of scripts/cluster.sh (KUBENODE_CLUSTER_SUBNET, CLUSTER_CIDR, ...)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
nodes=${KUBENODE_START_NODES:-2}
cluster() { bash "$here/cluster.sh" "$@"; }
bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
die() { echo "npm start: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, routes, Docker): sudo npm start"
if [ ! -f dist/hostgw/main.js ] || [ ! -f dist/agent/main.js ] || [ ! -f dist/proxy/main.js ]; then
  bold "[0/4] building kubenode (npm run build)"
  npm run --silent build
fi

bold "[1/4] emulated cluster: control plane and $nodes nodes"
cluster up --nodes "$nodes"

bold "[2/4] demo app: Deployment demo (3 replicas) and NodePort Service demo"
cluster kubectl apply -f "$here/demo.yaml" | sed 's/^/    /'
node_port=$(cluster kubectl get service demo -o jsonpath='{.spec.ports[0].nodePort}')

bold "[3/4] waiting for the replicas to be Ready"
cluster kubectl rollout status deployment/demo --timeout=180s | sed 's/^/    /' ||
  { cluster kubectl get pods -o wide >&2; die "the demo did not become Ready: see 'sudo scripts/cluster.sh logs node1 agent'"; }
cluster kubectl get pods -l app=demo -o wide | sed 's/^/    /'

bold "[4/4] checking the NodePort on every node"
mapfile -t addrs < <(cluster nodes | awk '{print $2}')
for a in "${addrs[@]}"; do
  answer=""
  for _ in $(seq 1 60); do
    answer=$(curl -s --max-time 2 "http://$a:$node_port/" || true)
    [[ $answer == pod=* ]] && break
    sleep 0.5
  done
  [[ $answer == pod=* ]] || die "the NodePort on $a:$node_port does not answer: see 'sudo scripts/cluster.sh logs <node> proxy'"
  echo "    $a:$node_port -> $answer"
done

echo
bold "kubenode is running: ${#addrs[@]} nodes, the demo answers on every node's NodePort."
echo
echo "Try it (each answer names the pod, its IP and its node):"
for a in "${addrs[@]}"; do echo "    curl http://$a:$node_port/"; done
echo "    for i in \$(seq 10); do curl -s http://${addrs[0]}:$node_port/; done"
echo
# kubectl is not on the user's PATH: the pinned one lives beside the control plane's binaries.
echo "kubectl (the release the control plane was built from) in your shell: run these, or eval \"\$(sudo scripts/cluster.sh env)\""
cluster env | sed 's/^/    /'
echo "    kubectl get pods -o wide"
echo
echo "Look around:"
echo "    sudo scripts/cluster.sh status"
echo "    sudo scripts/cluster.sh kubectl get pods -o wide"
echo "    sudo scripts/cluster.sh logs node1 agent"
echo
echo "Break things and watch failover:"
echo "    sudo scripts/failover.sh                      # scenarios a-d: failed requests, windows, and a page drawing them"
echo "    sudo scripts/cluster.sh netem node2 --delay 50ms --loss 1%"
echo "    sudo scripts/cluster.sh partition node2       # and: sudo scripts/cluster.sh heal node2"
echo
echo "Tear down (removes every namespace, link, route, container and file it made):"
echo "    sudo scripts/cluster.sh down"
