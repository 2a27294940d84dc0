#!/usr/bin/env bash
# Turn this machine (or the network namespace this runs in) into a kubenode node: the CNI
# configuration, then the agent, the proxy and the host-gw route controller, as daemons.
# The Vagrant VMs run it on real machines; scripts/cluster.sh runs the very same script inside
# each emulated node's network namespace (`ip netns exec kn-node1 scripts/node.sh up`).
#
# Usage:
#   scripts/node.sh up       write the CNI config, start the components (or say they run)
#   scripts/node.sh down     stop the components; `down --purge` also removes this node's pod
#                            containers, its iptables chains and host-gw routes, and its directory
#   scripts/node.sh status   which components run
#   scripts/node.sh logs agent|proxy|hostgw [-f]
#
# Settings (environment):
#   KUBENODE_NODE_NAME        the Node's name                    (default: hostname)
#   KUBENODE_NODE_IP          the address other nodes reach it at (default: first global IPv4)
#   KUBENODE_NODE_DIR         state: logs, pids, CNI config, agent root dir  (/var/lib/kubenode/node)
#   KUBENODE_NODE_KUBECONFIG  the node's kubeconfig (from control-plane.sh node-credentials)
#                                                                (default: $KUBENODE_NODE_DIR/kubeconfig)
#   KUBENODE_APISERVER        https://HOST:PORT of the apiserver, and
#   KUBENODE_BOOTSTRAP_TOKEN  a bootstrap token (control-plane.sh token create prints both):
#                             without KUBENODE_NODE_KUBECONFIG, the node joins by TLS bootstrap: the
#                             CA from kube-public/cluster-info (checked with the token's signature),
#                             then the agent gets its certificates through CSRs and rotates them
#   KUBENODE_CA_CERT_HASH     sha256:HEX pin of the cluster CA's public key, checked on join
#   KUBENODE_NODE_COMPONENTS  which to run, of: agent proxy hostgw (default: all three)
#   CLUSTER_CIDR              the pod network, split into per-node podCIDRs (10.244.0.0/16)
#   CNI_BIN_DIR               where kubenode-bridge and kubenode-ipam are   (/opt/cni/bin)
#   KUBENODE_CLUSTER_DNS      the cluster DNS Service's IP(s), comma-separated (--cluster-dns):
#                             ClusterFirst pods' nameserver                (default: none)
#   KUBENODE_CLUSTER_DOMAIN   the cluster's DNS domain (--cluster-domain)  (cluster.local)
#   KUBENODE_RESOLV_CONF      the resolver file Default pods and CoreDNS's forwarding get
#                             (--resolv-conf)                              (/etc/resolv.conf)
#   KUBENODE_HOST_NETWORK_CONTAINER  emulated nodes only (set by cluster.sh): the container whose
#                             network namespace is the node's (--host-network-container)
#   KUBENODE_READ_ONLY_PORT   the agent's unauthenticated read-only port (--read-only-port): unset,
#                             the agent's default for a node of a cluster, 0 (off) as kubelet's;
#                             cluster.sh sets 10255 on its emulated nodes
#   KUBENODE_PROXY_MODE       the proxy's --proxy-mode: iptables, ipvs, nftables or userspace
#                             (default iptables, as kube-proxy's on Linux)
#   KUBENODE_AGENT_ARGS / KUBENODE_PROXY_ARGS   extra flags, word-split
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

name=${KUBENODE_NODE_NAME:-$(hostname)}
first_ipv4() { ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1; }
node_ip=${KUBENODE_NODE_IP:-$(first_ipv4)}
dir=${KUBENODE_NODE_DIR:-/var/lib/kubenode/node}
kubeconfig=${KUBENODE_NODE_KUBECONFIG:-$dir/kubeconfig}
# TLS bootstrap (kubeadm join's way) when given a token and no ready-made kubeconfig.
bootstrap=
[ -n "${KUBENODE_BOOTSTRAP_TOKEN:-}" ] && [ -z "${KUBENODE_NODE_KUBECONFIG:-}" ] && bootstrap=1
bootstrap_kubeconfig=$dir/bootstrap-kubeconfig
components=${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw}
cluster_cidr=${CLUSTER_CIDR:-10.244.0.0/16}
proxy_mode=${KUBENODE_PROXY_MODE:-iptables}
case $proxy_mode in
  iptables|ipvs|nftables|userspace) ;;
  *) echo "node.sh: KUBENODE_PROXY_MODE '$proxy_mode' is not iptables, ipvs, nftables or userspace" >&2; exit 2 ;;
esac
cni_bin_dir=${CNI_BIN_DIR:-/opt/cni/bin}
logs=$dir/logs
run=$dir/run
cni_conf_dir=$dir/cni/net.d
pod_cidr_file=$dir/podcidr
# The agent's label on every container it makes (kubenode.io/instance): the node name, so
# that agents of several nodes sharing one Docker Engine never touch each other's containers.
instance=$name
# Our own nat chain in this namespace: pod traffic leaving the pod network is masqueraded to
# the node address (flannel does the same), so replies find their way back from machines that
# have no route to pod CIDRs (the control plane VM, for one).
masq_chain=KUBENODE-POD-MASQ

die() { echo "node.sh ($name): $*" >&2; exit 1; }
usage() { print_usage >&2; }

# The program for a component: the npm bin wrapper when there is one, else the compiled entry.
program() {
  case $1 in
    agent) for f in "$root/bin/kubenode-agent.js" "$root/dist/agent/main.js"; do [ -f "$f" ] && { echo "$f"; return 0; }; done ;;
    proxy) for f in "$root/bin/kubenode-proxy.js" "$root/dist/proxy/main.js"; do [ -f "$f" ] && { echo "$f"; return 0; }; done ;;
    hostgw) f="$root/dist/hostgw/main.js"; [ -f "$f" ] && { echo "$f"; return 0; } ;;
  esac
  return 1
}

# Does this build of a component know --FLAG? (Read from its --help, so node.sh works with the
# programs as they grow.)
supports() { node "$(program "$1")" --help 2>&1 | grep -q -- "--$2[ =]"; }

pid_of() { local f=$run/$1.pid; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }
running() { pid_of "$1" >/dev/null; }

start() {
  local c=$1; shift
  mkdir -p "$logs" "$run"
  if running "$c"; then echo "$c already running (pid $(pid_of "$c"))"; return 0; fi
  # setsid: the daemon outlives this script (and the `ip netns exec` that ran it); its pid
  # file is how `down` finds it. It stays in this network namespace.
  setsid node "$@" >>"$logs/$c.log" 2>&1 </dev/null &
  echo $! >"$run/$c.pid"
  sleep 0.5
  running "$c" || { echo "node.sh ($name): $c exited at once; last lines of $logs/$c.log:" >&2; tail -20 "$logs/$c.log" >&2; return 1; }
  echo "$c started (pid $(pid_of "$c"), log $logs/$c.log)"
}

stop() {
  local c=$1 pid
  pid=$(pid_of "$c") || { rm -f "$run/$c.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$run/$c.pid"
  echo "$c stopped"
}

write_cni_config() {
  mkdir -p "$cni_conf_dir" "$dir/ipam"
  # kubenode-bridge + kubenode-ipam, the address range read from the podCIDR file the agent
  # writes from the Node's spec.podCIDR; portmap for hostPort. ipMasq stays off: traffic between
  # pods of different nodes keeps its pod source address (host-gw routes carry it), and the
  # masquerade for everything else is the node's own rule below.
  cat >"$cni_conf_dir/10-kubenode.conflist.tmp" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kubenode",
  "plugins": [
    {
      "type": "kubenode-bridge",
      "bridge": "kubenode0",
      "isGateway": true,
      "isDefaultGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "kubenode-ipam",
        "podCIDRFile": "$pod_cidr_file",
        "dataDir": "$dir/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true }, "snat": true }
  ]
}
EOF
  mv "$cni_conf_dir/10-kubenode.conflist.tmp" "$cni_conf_dir/10-kubenode.conflist"
}

# Forwarding on (pods' traffic crosses this node), and the masquerade rule for traffic leaving
# the pod network, applied with one iptables-restore into our own chain.
node_network() {
  sysctl -qw net.ipv4.ip_forward=1
  iptables-restore --noflush <<EOF
*nat
:$masq_chain - [0:0]
-F $masq_chain
-A $masq_chain -d $cluster_cidr -m comment --comment "kubenode: pod to pod keeps its address" -j RETURN
-A $masq_chain -d 224.0.0.0/4 -m comment --comment "kubenode: multicast is not masqueraded" -j RETURN
-A $masq_chain -m comment --comment "kubenode: pod traffic leaving the pod network" -j MASQUERADE
COMMIT
EOF
  iptables -t nat -C POSTROUTING -s "$cluster_cidr" -j "$masq_chain" 2>/dev/null ||
    iptables -t nat -A POSTROUTING -s "$cluster_cidr" -m comment --comment "kubenode: pod masquerade" -j "$masq_chain"
}

remove_node_network() {
  iptables -t nat -D POSTROUTING -s "$cluster_cidr" -m comment --comment "kubenode: pod masquerade" -j "$masq_chain" 2>/dev/null || true
  iptables -t nat -F "$masq_chain" 2>/dev/null || true
  iptables -t nat -X "$masq_chain" 2>/dev/null || true
}

up() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (it programs iptables and routes, and drives Docker)"
  [ -n "$node_ip" ] || die "no node address: set KUBENODE_NODE_IP"
  if [ -n "$bootstrap" ]; then
    [ -n "${KUBENODE_APISERVER:-}" ] || die "KUBENODE_BOOTSTRAP_TOKEN needs KUBENODE_APISERVER (https://HOST:PORT; 'scripts/control-plane.sh token create' prints both)"
    [[ " $components " == *" agent "* ]] || die "joining with KUBENODE_BOOTSTRAP_TOKEN needs the agent in KUBENODE_NODE_COMPONENTS (it is what gets the node's certificates)"
  else
    [ -f "$kubeconfig" ] || die "no kubeconfig at $kubeconfig: join with a token (KUBENODE_APISERVER and KUBENODE_BOOTSTRAP_TOKEN from 'scripts/control-plane.sh token create'), or make one with 'scripts/control-plane.sh node-credentials $name $node_ip' on the control plane and copy its directory here (or set KUBENODE_NODE_KUBECONFIG)"
  fi
  command -v iptables-restore >/dev/null || die "iptables is not installed: run 'sudo scripts/setup.sh' (or apt-get install iptables)"
  mkdir -p "$dir" "$logs" "$run"
  local c missing=()
  for c in $components; do
    case $c in agent|proxy|hostgw) program "$c" >/dev/null || missing+=("$c") ;; *) die "unknown component '$c' in KUBENODE_NODE_COMPONENTS (expected agent, proxy, hostgw)" ;; esac
  done
  [ ${#missing[@]} -eq 0 ] || die "not built: ${missing[*]} (no $root/bin/kubenode-${missing[0]}.js or dist/ entry): run 'npm run build'"

  [ -z "$bootstrap" ] || discover
  node_network
  if [[ " $components " == *" agent "* ]]; then
    for p in kubenode-bridge kubenode-ipam portmap; do
      [ -x "$cni_bin_dir/$p" ] || die "CNI plugin $cni_bin_dir/$p is missing: run 'sudo scripts/setup.sh' (it runs scripts/install-cni.sh)"
    done
    write_cni_config
    mkdir -p "$dir/manifests" "$dir/root"
    local agent_args=(--kubeconfig "$kubeconfig" --hostname-override "$name" --node-ip "$node_ip"
      --root-dir "$dir/root" --pod-manifest-path "$dir/manifests"
      --cni-conf-dir "$cni_conf_dir" --cni-bin-dir "$cni_bin_dir" --instance "$instance")
    # Where the agent writes the Node's podCIDR for kubenode-ipam (when this agent has the flag).
    supports agent pod-cidr-file && agent_args+=(--pod-cidr-file "$pod_cidr_file")
    # The serving certificate control-plane.sh node-credentials made beside the kubeconfig, for
    # the agent's authenticated API (logs, exec), when this agent serves one. Bootstrapped nodes
    # get both certificates through CSRs instead, and renew them (kubeadm's kubelet does the same
    # with serverTLSBootstrap and rotateCertificates).
    local creds; creds=$(dirname "$kubeconfig")
    if [ -n "$bootstrap" ]; then
      agent_args+=(--bootstrap-kubeconfig "$bootstrap_kubeconfig" --cert-dir "$dir/pki" --rotate-certificates
        --rotate-server-certificates --client-ca-file "$dir/ca.crt")
    elif supports agent tls-cert-file && [ -f "$creds/kubelet-$name.crt" ]; then
      agent_args+=(--tls-cert-file "$creds/kubelet-$name.crt" --tls-private-key-file "$creds/kubelet-$name.key")
      supports agent client-ca-file && agent_args+=(--client-ca-file "$creds/ca.crt")
    fi
    # Pods' DNS (when this agent has the flags): kubelet's --cluster-dns, --cluster-domain, --resolv-conf.
    if supports agent cluster-dns; then
      [ -z "${KUBENODE_CLUSTER_DNS:-}" ] || agent_args+=(--cluster-dns "$KUBENODE_CLUSTER_DNS")
      agent_args+=(--cluster-domain "${KUBENODE_CLUSTER_DOMAIN:-cluster.local}")
      [ -z "${KUBENODE_RESOLV_CONF:-}" ] || agent_args+=(--resolv-conf "$KUBENODE_RESOLV_CONF")
    fi
    # Emulated nodes only (cluster.sh): the container that holds this node's network namespace,
    # which hostNetwork pods join (agent/runtime/host-network.ts).
    [ -z "${KUBENODE_HOST_NETWORK_CONTAINER:-}" ] || agent_args+=(--host-network-container "$KUBENODE_HOST_NETWORK_CONTAINER")
    [ -z "${KUBENODE_READ_ONLY_PORT:-}" ] || agent_args+=(--read-only-port "$KUBENODE_READ_ONLY_PORT")
    # shellcheck disable=SC2086
    start agent "$(program agent)" "${agent_args[@]}" ${KUBENODE_AGENT_ARGS:-}
  fi
  # The proxy and the route controller run with the node's credentials: when bootstrapping, the
  # ones the agent writes once its client CSR is approved.
  if [ -n "$bootstrap" ] && [[ " $components " == *" proxy "* || " $components " == *" hostgw "* ]]; then
    wait_for_kubeconfig
  fi
  if [[ " $components " == *" proxy "* ]]; then
    # shellcheck disable=SC2086
    start proxy "$(program proxy)" \
      --kubeconfig "$kubeconfig" --hostname-override "$name" --proxy-mode "$proxy_mode" \
      --cluster-cidr "$cluster_cidr" --nodeport-addresses "$node_ip/32" ${KUBENODE_PROXY_ARGS:-}
  fi
  if [[ " $components " == *" hostgw "* ]]; then
    start hostgw "$(program hostgw)" --kubeconfig "$kubeconfig" --hostname-override "$name" --cluster-cidr "$cluster_cidr"
  fi
}

# Token discovery (agent/join.ts): the CA from kube-public/cluster-info, verified with the token
# and the pin, into $dir/ca.crt and the bootstrap kubeconfig. Done once: a node that already has
# its bootstrap kubeconfig (its token may have expired since) starts from what it has.
discover() {
  [ -f "$bootstrap_kubeconfig" ] && return 0
  local join="$root/dist/agent/join.js"
  [ -f "$join" ] || die "$join is missing: run 'npm run build'"
  node "$join" --apiserver "$KUBENODE_APISERVER" --token "$KUBENODE_BOOTSTRAP_TOKEN" \
    ${KUBENODE_CA_CERT_HASH:+--ca-cert-hash "$KUBENODE_CA_CERT_HASH"} \
    --bootstrap-kubeconfig "$bootstrap_kubeconfig" --ca-file "$dir/ca.crt" || die "joining $KUBENODE_APISERVER failed (see above)"
}

wait_for_kubeconfig() {
  local i
  for i in $(seq 1 600); do
    [ -f "$kubeconfig" ] && return 0
    [ "$i" -gt 1 ] || echo "waiting for the agent's client certificate (CSR approval) and $kubeconfig"
    if [[ " $components " == *" agent "* ]] && ! running agent; then die "the agent exited before writing $kubeconfig; see $logs/agent.log"; fi
    sleep 0.2
  done
  die "no $kubeconfig after 120s: is the agent's CSR approved? (kubectl get csr; see $logs/agent.log)"
}

down() {
  local purge=${1:-}
  stop hostgw; stop proxy; stop agent
  [ "$purge" = --purge ] || return 0
  # Pod containers of this node only: the agent labels each with its instance.
  if command -v docker >/dev/null; then
    local ids
    ids=$(docker ps -aq --filter "label=kubenode.io/instance=$instance" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
  fi
  local p
  if p=$(program proxy); then node "$p" --cleanup --proxy-mode "$proxy_mode" >/dev/null 2>&1 || echo "node.sh ($name): proxy --cleanup failed" >&2; fi
  if p=$(program hostgw); then node "$p" --cleanup --cluster-cidr "$cluster_cidr" >/dev/null 2>&1 || true; fi
  remove_node_network
  # Pod volumes the agent mounted (tmpfs for secrets and service-account tokens) outlive it, as
  # kubelet's do: unmount them, deepest first, before removing the directory.
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$dir"
  echo "node $name purged"
}

status() {
  local c
  for c in agent proxy hostgw; do
    if running "$c"; then printf '%-8s running (pid %s)\n' "$c" "$(pid_of "$c")"; else printf '%-8s stopped\n' "$c"; fi
  done
  [ -f "$pod_cidr_file" ] && printf '%-8s %s\n' podCIDR "$(tr '\n' ' ' <"$pod_cidr_file")"
  return 0
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) up ;;
  down) down "${1:-}" ;;
  status) status ;;
  logs)
    c=${1:-}; [[ $c =~ ^(agent|proxy|hostgw)$ ]] || die "usage: $0 logs agent|proxy|hostgw [-f]"
    [ -f "$logs/$c.log" ] || die "no log yet at $logs/$c.log"
    if [ "${2:-}" = -f ]; then exec tail -n 50 -F "$logs/$c.log"; else cat "$logs/$c.log"; fi
    ;;
  ""|-h|--help|help) usage; [ -n "$cmd" ] || exit 2 ;;
  *) echo "node.sh: unknown subcommand '$cmd' (expected up, down, status, logs)" >&2; exit 2 ;;
esac
