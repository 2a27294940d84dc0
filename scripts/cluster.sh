#!/usr/bin/env bash
# An emulated kubenode cluster on one Linux machine: each node is a network namespace on one
# bridge that plays the Vagrant VMs' private network, running the agent, the proxy and the
# host-gw route controller through scripts/node.sh, as a Vagrant VM does. The control plane is
# scripts/control-plane.sh, in the root namespace, advertised on the bridge's address.
#
# Usage:
#   scripts/cluster.sh up [--nodes N] [--proxy-mode MODE] [--network-only] [--no-wait] [--no-dns]
#                         start the control plane and nodes 1..N (default 2); adds missing nodes
#                         to a running cluster. --network-only: bridge and namespaces only;
#                         --no-wait: do not wait for the nodes (nor CoreDNS) to be Ready.
#                         Once the nodes are Ready, the cluster DNS add-on (CoreDNS, Service
#                         kube-system/kube-dns at CLUSTER_DNS_IP) is applied and waited for;
#                         --no-dns: leave it out. --proxy-mode: every node's kubenode-proxy mode,
#                         iptables (default), nftables or userspace (ipvs needs a kernel with
#                         IPVS, which the emulated nodes share with this machine); kept for the
#                         cluster's life, like the other settings.
#   scripts/cluster.sh down                 remove every namespace, link, route, chain, container
#                                           and file this cluster made
#   scripts/cluster.sh status               nodes, pods and Services, and each node's network;
#                                           exits 0 when all is up, 1 when a node's program died,
#                                           3 when the cluster is not up (as `systemctl status`)
#   scripts/cluster.sh kubeconfig           the admin kubeconfig's path
#   scripts/cluster.sh env                  shell lines for the pinned kubectl and the admin kubeconfig:
#                                           eval "$(sudo scripts/cluster.sh env)"; kubectl get nodes
#   scripts/cluster.sh kubectl ARGS...      kubectl as the cluster admin
#   scripts/cluster.sh nodes                one line per node: NAME ADDRESS NAMESPACE
#   scripts/cluster.sh exec NODE -- CMD...  run a command in a node's network namespace
#   scripts/cluster.sh netem NODE [--delay 50ms] [--loss 1%] | --clear
#                                           impair packets arriving at the node
#   scripts/cluster.sh partition NODE       cut the node off the network (silently: no link down)
#   scripts/cluster.sh heal NODE            undo partition and netem
#   scripts/cluster.sh reboot NODE [--down-for SECONDS]
#                                           power cut and boot: kill the node's programs, remove its
#                                           pod containers and namespace (its directory, the disk,
#                                           stays), then start it again as `up` does
#   scripts/cluster.sh logs NODE agent|proxy|hostgw [-f]
#   scripts/cluster.sh trace --node NODE [ARGS...]
#                                           kubenode-trace on that node, with its pods (CNI results)
#                                           and the cluster's: follow a real packet through its rules
#                                           (`trace --node 1 -- curl -s http://10.96.x.y/`, or
#                                           `--from POD --to ADDR:PORT`; all options: --help after trace)
#   NODE is a node's number (1), short name (node1) or full name (kn-node1).
#
# Settings (environment; saved by `up` in the state directory, which later commands read):
#   KUBENODE_CLUSTER_NAME    prefix of every name: namespaces NAME-node<i>, bridge NAME-vnet0,
#                            veths NAME-v<i>, Node objects NAME-node<i>        (kn; a-z0-9, <= 8)
#   KUBENODE_CLUSTER_DIR     state: settings, control plane, nodes' logs and pids
#                            (/var/lib/kubenode/cluster, or /var/lib/kubenode/cluster-NAME)
#   KUBENODE_CLUSTER_SUBNET  the nodes' network; .1 is the host (and apiserver), node i is .(10+i)
#                            (192.168.56.0/24, as a Vagrant private network; when a route of
#                            this machine already uses it, `up` takes the next free one of
#                            192.168.57.0/24 ... 192.168.63.0/24 and says so)
#   CLUSTER_CIDR             pod network, one /24 per node from the controller-manager (10.244.0.0/16)
#   APISERVER_PORT ETCD_CLIENT_PORT ETCD_PEER_PORT CONTROLLER_MANAGER_PORT SCHEDULER_PORT
#   NODE_MONITOR_GRACE_PERIOD (20s) NOT_READY_TOLERATION_SECONDS (10): short, so that failover
#                            after a partition can be watched in under a minute
#   KUBENODE_NODE_COMPONENTS which programs each node runs (agent proxy hostgw)
#   KUBENODE_NODE_JOIN       how nodes get their credentials: token (default: TLS bootstrap with a
#                            bootstrap token from `control-plane.sh token create`, as a Vagrant VM
#                            joins) or credentials (certificates made beforehand by
#                            `control-plane.sh node-credentials`)
#   CNI_BIN_DIR              where the CNI plugins are (/opt/cni/bin, filled by setup.sh)
#   CLUSTER_DNS_IP           the kube-dns Service's address, each agent's --cluster-dns
#                            (the tenth address of SERVICE_CIDR: 10.96.0.10)
#   KUBENODE_DNS_READY_TIMEOUT  seconds `up` waits for CoreDNS to be Ready (180)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
. "$(dirname "$0")/lib/cluster-reboot.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { print_usage >&2; }

# --- settings -------------------------------------------------------------------------------
cname=${KUBENODE_CLUSTER_NAME:-kn}
[[ $cname =~ ^[a-z0-9]{1,8}$ ]] || die "KUBENODE_CLUSTER_NAME '$cname' must be 1-8 characters a-z0-9 (it prefixes interface names, which Linux limits to 15)"
if [ "$cname" = kn ]; then default_dir=/var/lib/kubenode/cluster; else default_dir=/var/lib/kubenode/cluster-$cname; fi
dir=${KUBENODE_CLUSTER_DIR:-$default_dir}
settings=$dir/cluster.env
subnet=${KUBENODE_CLUSTER_SUBNET:-192.168.56.0/24}
subnet_given=${KUBENODE_CLUSTER_SUBNET:+1}
cluster_cidr=${CLUSTER_CIDR:-10.244.0.0/16}
proxy_mode=iptables
# A cluster that is up keeps the settings it was made with, whatever the environment says now.
saved=0
if [ -f "$settings" ]; then
  # shellcheck disable=SC1090
  . "$settings"
  saved=1
fi
export KUBENODE_CONTROL_PLANE_DIR=$dir/control-plane
export CLUSTER_CIDR=$cluster_cidr
export NODE_MONITOR_GRACE_PERIOD=${NODE_MONITOR_GRACE_PERIOD:-20s}
export NOT_READY_TOLERATION_SECONDS=${NOT_READY_TOLERATION_SECONDS:-10}
# The cluster DNS address, as control-plane.sh derives it (the tenth address of the Service
# range), exported so both use the same one.
if [ -z "${CLUSTER_DNS_IP:-}" ]; then
  IFS=. read -r _a _b _c _d <<<"$(cut -d/ -f1 <<<"${SERVICE_CIDR:-10.96.0.0/16}")"
  CLUSTER_DNS_IP=$_a.$_b.$_c.$((_d + 10))
fi
export CLUSTER_DNS_IP
# The emulated nodes' resolver file (each agent's --resolv-conf): what pods with dnsPolicy
# Default get, CoreDNS among them, whose `forward .` sends every name outside the cluster there.
# Not this machine's /etc/resolv.conf: a loopback resolver there (127.0.0.53 of systemd-resolved)
# would, inside the CoreDNS pod, be CoreDNS itself, and its `loop` plugin stops it; and queries
# for outside names must not leave this machine. The host's bridge address plays the Vagrant
# host: nothing answers on it unless a person runs a DNS server there, so outside names fail
# at once (port unreachable) while cluster names resolve.
node_resolv_conf=$dir/resolv.conf
bridge=$cname-vnet0
node_dirs=$dir/nodes
logs=$dir/logs
run=$dir/run
# Marks our routes in the root namespace (`proto 107`, as the host-gw controller's).
route_proto=107

# --- addresses ------------------------------------------------------------------------------
ip2int() { local IFS=.; read -r a b c d <<<"$1"; echo $(((a << 24) | (b << 16) | (c << 8) | d)); }
int2ip() { local v=$1; echo "$(((v >> 24) & 255)).$(((v >> 16) & 255)).$(((v >> 8) & 255)).$((v & 255))"; }
# The addresses derived from $subnet (again when `up` picks a free subnet).
use_subnet() {
  [[ $subnet =~ ^([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)/([0-9]+)$ ]] || die "KUBENODE_CLUSTER_SUBNET '$subnet' is not an IPv4 CIDR like 192.168.56.0/24"
  subnet_bits=${BASH_REMATCH[2]}
  [ "$subnet_bits" -ge 16 ] && [ "$subnet_bits" -le 24 ] || die "KUBENODE_CLUSTER_SUBNET '$subnet': the prefix length must be between 16 and 24"
  subnet_base=$(( $(ip2int "${BASH_REMATCH[1]}") & ~((1 << (32 - subnet_bits)) - 1) & 0xffffffff ))
  host_ip=$(int2ip $((subnet_base + 1)))
  max_nodes=$(( (1 << (32 - subnet_bits)) - 12 ))
  [ "$max_nodes" -le 200 ] || max_nodes=200
}
use_subnet
node_ip() { int2ip $((subnet_base + 10 + $1)); }

ns_of() { echo "$cname-node$1"; }
veth_of() { echo "$cname-v$1"; }

# NODE (1, node1, kn-node1) -> index; dies when no such node exists.
node_index() {
  local n=${1:-}
  [ -n "$n" ] || die "which node? give a number, node<i> or $cname-node<i>"
  n=${n#"$cname-"}; n=${n#node}
  [[ $n =~ ^[0-9]+$ ]] || die "'$1' is not a node of cluster $cname (expected a number, node<i> or $cname-node<i>)"
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$(ns_of "$n")" ||
    die "node $(ns_of "$n") does not exist; nodes of cluster $cname: $(node_indexes | sed "s/^/$cname-node/" | tr '\n' ' ')(see: $0 nodes)"
  echo "$n"
}

# Existing node indexes, in order.
node_indexes() {
  ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$cname-node\([0-9][0-9]*\)$/\1/p" | sort -n
}

cp_sh() { bash "$here/control-plane.sh" "$@"; }
join_mode=${KUBENODE_NODE_JOIN:-token}
[[ $join_mode =~ ^(token|credentials)$ ]] || die "KUBENODE_NODE_JOIN '$join_mode': expected token or credentials"
# The agent is what bootstraps a node's credentials: nodes without one get them made beforehand.
[[ " ${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw} " == *" agent "* ]] || join_mode=credentials
# The join command `control-plane.sh token create` prints last (set by up in token mode).
join_line=
kubectl_admin() { cp_sh kubectl "$@"; }
cp_up() { [ -f "$KUBENODE_CONTROL_PLANE_DIR/run/kube-apiserver.pid" ] && kill -0 "$(cat "$KUBENODE_CONTROL_PLANE_DIR/run/kube-apiserver.pid")" 2>/dev/null; }

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
[ -t 1 ] || step() { printf '==> %s\n' "$*"; }

# --- preflight ------------------------------------------------------------------------------
require_root() { [ "$(id -u)" -eq 0 ] || die "must run as root (namespaces, links, routes, Docker): sudo $0 $*"; }

preflight() {
  local network_only=$1 p
  for p in ip iptables-restore sysctl setsid nsenter bridge; do command -v "$p" >/dev/null || die "'$p' is not installed: run 'sudo scripts/setup.sh'"; done
  [ "$network_only" = 1 ] && return 0
  command -v node >/dev/null || die "node (Node.js 20) is not installed"
  [ -f "$root/dist/hostgw/main.js" ] || die "kubenode is not built: run 'npm run build'"
  if [[ " ${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw} " == *" agent "* ]]; then
    command -v docker >/dev/null || die "docker is not installed: run 'sudo scripts/setup.sh'"
    docker info >/dev/null 2>&1 || die "Docker Engine is not running: run 'sudo scripts/setup.sh' (or scripts/dockerd.sh start)"
    for p in kubenode/pause:latest kubenode/demo:latest; do
      docker image inspect "$p" >/dev/null 2>&1 || die "image $p is missing: run 'sudo scripts/setup.sh' (scripts/build-images.sh)"
    done
  fi
}

# A network already routed here (not by us) would make our addresses ambiguous: the first route
# to CIDR or inside it, other than our bridge's and our own (proto 107), if there is one.
foreign_route() {
  local cidr=$1
  { ip -4 route show to match "$cidr" 2>/dev/null | grep -v '^default'; ip -4 route show root "$cidr" 2>/dev/null; } |
    grep -v "dev $bridge " | grep -v "proto $route_proto" | head -1 || true
}

check_free() {
  local cidr=$1 what=$2 line
  line=$(foreign_route "$cidr")
  [ -z "$line" ] || die "$what $cidr is already in use on this machine (route: $line); pick another with KUBENODE_CLUSTER_SUBNET / CLUSTER_CIDR"
}

# Without KUBENODE_CLUSTER_SUBNET, a taken 192.168.56.0/24 (VirtualBox's host-only network uses
# it, and so may another cluster) is no reason to stop: the next free /24 of a short list is
# taken, said out loud, and saved with the other settings, so every later command of this
# cluster (status, down, netem...) uses it. A subnet the user chose is never replaced.
subnet_candidates=(192.168.56.0/24 192.168.57.0/24 192.168.58.0/24 192.168.59.0/24 192.168.60.0/24 192.168.61.0/24 192.168.62.0/24 192.168.63.0/24)
pick_free_subnet() {
  local taken c
  taken=$(foreign_route "$subnet")
  [ -n "$taken" ] || return 0
  for c in "${subnet_candidates[@]}"; do
    [ -z "$(foreign_route "$c")" ] || continue
    echo "the node network $subnet is already in use on this machine (route: $taken): using $c instead (KUBENODE_CLUSTER_SUBNET chooses)"
    subnet=$c
    use_subnet
    return 0
  done
  die "the node network $subnet is already in use on this machine (route: $taken), and so are ${subnet_candidates[*]:1}: choose a free one with KUBENODE_CLUSTER_SUBNET"
}

save_settings() {
  mkdir -p "$dir"
  cat >"$settings" <<EOF
# Written by scripts/cluster.sh up; read by every later command for this cluster.
cname=$cname
subnet=$subnet
cluster_cidr=$cluster_cidr
APISERVER_PORT=${APISERVER_PORT:-6443}
ETCD_CLIENT_PORT=${ETCD_CLIENT_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
CONTROLLER_MANAGER_PORT=${CONTROLLER_MANAGER_PORT:-10257}
SCHEDULER_PORT=${SCHEDULER_PORT:-10259}
NODE_MONITOR_GRACE_PERIOD=$NODE_MONITOR_GRACE_PERIOD
NOT_READY_TOLERATION_SECONDS=$NOT_READY_TOLERATION_SECONDS
KUBENODE_NODE_COMPONENTS="${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw}"
proxy_mode=$proxy_mode
export APISERVER_PORT ETCD_CLIENT_PORT ETCD_PEER_PORT CONTROLLER_MANAGER_PORT SCHEDULER_PORT KUBENODE_NODE_COMPONENTS
EOF
}

# --- the network ----------------------------------------------------------------------------
ensure_bridge() {
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
  fi
  ip addr replace "$host_ip/$subnet_bits" dev "$bridge"
  ip link set "$bridge" up
}

# The container that holds node i's network namespace (see create_node_netns).
holder_of() { echo "$cname-node$1-netns"; }

# Node i's namespace, made by a holder container: a pause container started with no network,
# whose namespace is then bind-mounted at /run/netns/<ns>, so that `ip netns`, nsenter and Docker
# all see the same one. Why: on a real node hostNetwork pods share the node's namespace, and the
# agent gets that with Docker's --network host; here the node is a namespace, and Docker can join
# a namespace only through a container that has it (--network container:<holder>), never by
# path, and a namespace made by `ip netns add` cannot be put into a container afterwards. So the
# holder makes it and the agent is told its name (--host-network-container). `ip netns delete`
# unmounts the name; the namespace lives on until the holder is removed too (down does both).
# The holder is never restarted: a new one would have a new, empty namespace.
create_node_netns() {
  local i=$1 ns holder pid
  ns=$(ns_of "$i"); holder=$(holder_of "$i")
  docker rm -f "$holder" >/dev/null 2>&1 || true
  docker run -d --name "$holder" --hostname "$ns" --network none --restart no \
    --label "kubenode.io/cluster=$cname" --label "kubenode.io/node-netns=$ns" kubenode/pause:latest >/dev/null
  pid=$(docker inspect -f '{{.State.Pid}}' "$holder")
  [ "${pid:-0}" -gt 0 ] || die "the network namespace holder $holder of $ns is not running"
  # As `ip netns add` prepares /run/netns: a shared mount point, so that the names are seen from
  # every mount namespace made later (`ip netns exec` makes one).
  mkdir -p /run/netns
  mount --make-shared /run/netns 2>/dev/null || { mount --bind /run/netns /run/netns && mount --make-shared /run/netns; }
  touch "/run/netns/$ns"
  mount --bind "/proc/$pid/ns/net" "/run/netns/$ns"
}

# The holder of node i when it runs and holds the node's namespace now (a namespace made before
# holders existed, or one whose holder died, has none: its hostNetwork pods use the root namespace).
node_holder() {
  local i=$1 holder pid
  holder=$(holder_of "$i")
  command -v docker >/dev/null || return 0
  pid=$(docker inspect -f '{{if .State.Running}}{{.State.Pid}}{{end}}' "$holder" 2>/dev/null || true)
  [ -n "$pid" ] && [ "$(ip netns identify "$pid" 2>/dev/null)" = "$(ns_of "$i")" ] && echo "$holder"
  return 0
}

# Node i: namespace, a veth whose far end is the node's eth0 on the bridge, its address, and
# forwarding on (pods' traffic crosses the node). With_holder (1 when the node will run pods):
# the namespace comes from a holder container (create_node_netns); else `ip netns add`.
ensure_node_network() {
  local i=$1 with_holder=${2:-0} ns veth
  ns=$(ns_of "$i"); veth=$(veth_of "$i")
  if ! ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    if [ "$with_holder" = 1 ]; then create_node_netns "$i"; else ip netns add "$ns"; fi
  fi
  ip -n "$ns" link set lo up
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$ns"
  fi
  ip link set "$veth" master "$bridge" up
  ip -n "$ns" addr replace "$(node_ip "$i")/$subnet_bits" dev eth0
  ip -n "$ns" link set eth0 up
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
}

node_env() {
  local i=$1 name
  name=$(ns_of "$i")
  echo "KUBENODE_NODE_NAME=$name"
  echo "KUBENODE_NODE_IP=$(node_ip "$i")"
  echo "KUBENODE_NODE_DIR=$node_dirs/$name"
  if [ "$join_mode" = credentials ]; then
    echo "KUBENODE_NODE_KUBECONFIG=$KUBENODE_CONTROL_PLANE_DIR/nodes/$name/kubeconfig"
  elif [ -n "$join_line" ]; then
    # KUBENODE_APISERVER, KUBENODE_BOOTSTRAP_TOKEN and KUBENODE_CA_CERT_HASH from the join line.
    local w; for w in $join_line; do [[ $w == KUBENODE_*=* ]] && echo "$w"; done
  fi
  echo "CLUSTER_CIDR=$cluster_cidr"
  echo "KUBENODE_CLUSTER_DNS=$CLUSTER_DNS_IP"
  echo "KUBENODE_CLUSTER_DOMAIN=cluster.local"
  echo "KUBENODE_RESOLV_CONF=$node_resolv_conf"
  echo "KUBENODE_NODE_COMPONENTS=${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw}"
  echo "KUBENODE_PROXY_MODE=$proxy_mode"
  echo "KUBENODE_HOST_NETWORK_CONTAINER=$(node_holder "$i")"
  # The read-only port stays on here (a joined agent's default is off, as kubelet's): an emulated
  # node's address is reachable only from this machine, and `curl http://<node IP>:10255/pods`
  # is how one reads what an agent thinks of its pods while learning.
  echo "KUBENODE_READ_ONLY_PORT=10255"
}

# Run scripts/node.sh in node i's network namespace with that node's settings. nsenter, not
# `ip netns exec`: the latter also makes a mount namespace with /sys remounted, which hides
# /sys/fs/cgroup from the agent (and Docker's cgroups with it). Only the network is per node.
in_node() { local i=$1; shift; nsenter --net="/run/netns/$(ns_of "$i")" -- "$@"; }
node_sh() {
  local i=$1; shift
  local envs=()
  mapfile -t envs < <(node_env "$i")
  in_node "$i" env "${envs[@]}" bash "$here/node.sh" "$@"
}

# The host's own host-gw controller: routes to every node's pod CIDR, so this machine reaches
# pods by IP. Runs in the root namespace with the admin kubeconfig.
start_host_routes() {
  mkdir -p "$logs" "$run"
  # Nothing of the pod network may ever leave this machine: an unreachable route for the whole
  # cluster CIDR, which the per-node routes (more specific) override.
  ip route replace unreachable "$cluster_cidr" proto "$route_proto"
  local f=$run/hostgw.pid
  if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then return 0; fi
  setsid node "$root/dist/hostgw/main.js" --kubeconfig "$KUBENODE_CONTROL_PLANE_DIR/admin.kubeconfig" \
    --cluster-cidr "$cluster_cidr" >>"$logs/hostgw.log" 2>&1 </dev/null &
  echo $! >"$f"
}

stop_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

wait_nodes_ready() {
  local want=$1 deadline=$((SECONDS + ${KUBENODE_CLUSTER_READY_TIMEOUT:-180})) ready last=""
  while :; do
    ready=$(kubectl_admin get nodes -o go-template='{{range .items}}{{$n:=.metadata.name}}{{range .status.conditions}}{{if and (eq .type "Ready") (eq .status "True")}}{{$n}} {{end}}{{end}}{{end}}' 2>/dev/null || true)
    local count=0 n
    for n in $ready; do [[ $n == "$cname-node"* ]] && count=$((count + 1)); done
    if [ "$count" != "$last" ]; then echo "    $count of $want nodes Ready"; last=$count; fi
    [ "$count" -ge "$want" ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster.sh: only $count of $want nodes Ready after ${KUBENODE_CLUSTER_READY_TIMEOUT:-180}s; the agents' logs say why:" >&2
      for n in $(node_indexes); do echo "--- $(ns_of "$n") agent (last lines)" >&2; tail -5 "$node_dirs/$(ns_of "$n")/logs/agent.log" >&2 2>/dev/null || true; done
      return 1
    fi
    sleep 1
  done
}

# The resolver file of the emulated nodes (see node_resolv_conf above).
write_node_resolv_conf() {
  mkdir -p "$dir"
  printf '# Written by scripts/cluster.sh: the resolver of cluster %s'"'"'s nodes (the agents'"'"' --resolv-conf).\nnameserver %s\n' "$cname" "$host_ip" >"$node_resolv_conf.tmp"
  mv "$node_resolv_conf.tmp" "$node_resolv_conf"
}

# The DNS add-on (control-plane.sh addons), then, unless told not to wait, CoreDNS Ready.
cluster_dns() {
  local wait=$1 image
  image=kubenode/coredns:$(. "$here/versions.sh"; echo "$COREDNS_VERSION")
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "    cluster DNS left out: image $image is missing: run 'sudo scripts/setup.sh' (scripts/build-coredns.sh); pods cannot resolve cluster names until then" >&2
    return 0
  fi
  cp_sh addons | sed 's/^/    /'
  [ "$wait" = 1 ] || return 0
  local deadline=$((SECONDS + ${KUBENODE_DNS_READY_TIMEOUT:-180})) ready
  while :; do
    ready=$(kubectl_admin -n kube-system get deployment coredns -o jsonpath='{.status.readyReplicas}' 2>/dev/null || true)
    [ "${ready:-0}" -ge 1 ] 2>/dev/null && { echo "    coredns Ready"; return 0; }
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster.sh: CoreDNS is not Ready after ${KUBENODE_DNS_READY_TIMEOUT:-180}s, so pods cannot resolve cluster names; its pod, events and log:" >&2
      kubectl_admin -n kube-system get pods -l k8s-app=kube-dns -o wide >&2 || true
      kubectl_admin -n kube-system get events --field-selector involvedObject.kind=Pod --sort-by=.lastTimestamp 2>/dev/null | grep coredns | tail -8 >&2 || true
      kubectl_admin -n kube-system logs -l k8s-app=kube-dns --tail 15 >&2 2>&1 || true
      return 1
    fi
    sleep 1
  done
}

# --- subcommands ----------------------------------------------------------------------------
up() {
  local nodes=2 network_only=0 wait=1 dns=1 proxy_mode_given=''
  while [ $# -gt 0 ]; do
    case $1 in
      --nodes) [ $# -ge 2 ] || die "--nodes needs a number"; nodes=$2; shift 2 ;;
      --nodes=*) nodes=${1#--nodes=}; shift ;;
      --network-only) network_only=1; shift ;;
      --no-wait) wait=0; shift ;;
      --no-dns) dns=0; shift ;;
      --proxy-mode) [ $# -ge 2 ] || die "--proxy-mode needs a mode"; proxy_mode_given=$2; shift 2 ;;
      --proxy-mode=*) proxy_mode_given=${1#--proxy-mode=}; shift ;;
      *) die "up: unknown flag '$1' (expected --nodes N, --proxy-mode MODE, --network-only, --no-wait, --no-dns)" ;;
    esac
  done
  [[ $nodes =~ ^[0-9]+$ ]] && [ "$nodes" -ge 1 ] && [ "$nodes" -le "$max_nodes" ] || die "--nodes must be a number from 1 to $max_nodes (the subnet $subnet holds that many), got '$nodes'"
  if [ -n "$proxy_mode_given" ]; then
    [[ $proxy_mode_given =~ ^(iptables|ipvs|nftables|userspace)$ ]] || die "--proxy-mode must be iptables, ipvs, nftables or userspace, got '$proxy_mode_given'"
    [ "$saved" = 0 ] || [ "$proxy_mode_given" = "$proxy_mode" ] || die "this cluster runs --proxy-mode $proxy_mode: 'down' it first to change the mode"
    proxy_mode=$proxy_mode_given
  fi
  require_root up
  preflight "$network_only"
  if [ "$saved" = 0 ]; then
    [ -n "$subnet_given" ] || pick_free_subnet
    check_free "$subnet" "the node network"
    [ "$network_only" = 1 ] || check_free "$cluster_cidr" "the pod network (CLUSTER_CIDR)"
  fi
  save_settings
  # shellcheck disable=SC1090
  . "$settings"

  step "network: bridge $bridge ($host_ip/$subnet_bits) and $nodes node namespaces"
  ensure_bridge
  local i
  local with_holder=0
  [ "$network_only" = 1 ] || [[ " ${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw} " != *" agent "* ]] || with_holder=1
  for i in $(seq 1 "$nodes"); do
    ensure_node_network "$i" "$with_holder"
    echo "    $(ns_of "$i")  $(node_ip "$i")"
  done
  if [ "$network_only" = 1 ]; then
    echo "network is up (no control plane, no node programs): $0 exec 1 -- ip addr"
    return 0
  fi

  step "control plane (apiserver on $host_ip:$APISERVER_PORT)"
  APISERVER_ADVERTISE_ADDRESS=$host_ip cp_sh up | sed 's/^/    /'
  kubectl_admin apply -f "$here/node-rbac.yaml" >/dev/null
  start_host_routes
  write_node_resolv_conf

  for i in $(seq 1 "$nodes"); do
    local name; name=$(ns_of "$i")
    step "node $name ($(node_ip "$i")): ${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw}"
    if [ "$join_mode" = credentials ]; then
      APISERVER_ADVERTISE_ADDRESS=$host_ip cp_sh node-credentials "$name" "$(node_ip "$i")" >/dev/null
    elif [ -z "$join_line" ]; then
      # One short-lived token for the nodes this run starts (they join within minutes).
      join_line=$(APISERVER_ADVERTISE_ADDRESS=$host_ip cp_sh token create --ttl 1h | tail -1)
    fi
    node_sh "$i" up | sed 's/^/    /'
  done

  if [ "$wait" = 1 ] && [[ " ${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw} " == *" agent "* ]]; then
    step "waiting for $nodes nodes to be Ready"
    wait_nodes_ready "$nodes"
  fi
  if [ "$dns" = 1 ] && [[ " ${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw} " == *" agent "* ]]; then
    step "cluster DNS: CoreDNS at $CLUSTER_DNS_IP"
    # CoreDNS reaches the apiserver through the kubernetes Service, which only the proxy serves.
    if [[ " ${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw} " == *" proxy "* ]]; then
      cluster_dns "$wait"
    else
      echo "    left out: the nodes run no proxy, and CoreDNS reaches the apiserver through the kubernetes Service"
    fi
  fi
  echo "cluster $cname is up: $0 status"
}

down() {
  require_root down
  local i ns leftovers=()
  local indexes; indexes=$(node_indexes)
  [ -d "$dir" ] || [ -n "$indexes" ] || ip link show "$bridge" >/dev/null 2>&1 || { echo "cluster $cname is not up (nothing in $dir, no namespaces)"; return 0; }
  step "stopping node programs"
  for i in $indexes; do
    node_sh "$i" down 2>/dev/null | sed 's/^/    /' || true
  done
  # Anything else still running inside our namespaces was started by us (by node.sh's daemons).
  for i in $indexes; do
    local pids; pids=$(ip netns pids "$(ns_of "$i")" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  done
  stop_pidfile "$run/hostgw.pid"

  step "removing pod containers"
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    local d ids
    shopt -s nullglob
    for d in "$node_dirs"/*/ $(for i in $indexes; do echo "$(ns_of "$i")"; done); do
      local n; n=$(basename "$d")
      ids=$(docker ps -aq --filter "label=kubenode.io/instance=$n" 2>/dev/null || true)
      # shellcheck disable=SC2086
      [ -z "$ids" ] || { docker rm -f -v $ids >/dev/null 2>&1 || true; echo "    $n: $(wc -w <<<"$ids") containers"; }
    done
  fi

  step "stopping the control plane"
  cp_sh down --purge 2>/dev/null | sed 's/^/    /' || true

  step "removing namespaces, links and routes"
  for i in $indexes; do ip netns delete "$(ns_of "$i")" 2>/dev/null || true; done
  # The namespaces' holders (create_node_netns): the namespaces end with them.
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    local holders; holders=$(docker ps -aq --filter "label=kubenode.io/cluster=$cname" 2>/dev/null || true)
    # shellcheck disable=SC2086
    [ -z "$holders" ] || docker rm -f $holders >/dev/null 2>&1 || true
  fi
  ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge"
  for i in $indexes; do ip link delete "$(veth_of "$i")" 2>/dev/null || true; done
  # Our routes in the root namespace: the cluster CIDR's unreachable route and any host-gw
  # route to a pod CIDR (those through the bridge went with it).
  ip route del unreachable "$cluster_cidr" proto "$route_proto" 2>/dev/null || true
  ip -4 route show proto "$route_proto" 2>/dev/null | awk '{print $1}' | while read -r dst; do
    case $(ip -4 route show proto "$route_proto" "$dst" 2>/dev/null) in *"dev $bridge"*) ip route del "$dst" proto "$route_proto" 2>/dev/null || true ;; esac
  done
  # Pod volumes the agents mounted (tmpfs for secrets and service-account tokens) outlive them, as
  # kubelet's do: unmount them, deepest first, before removing the directory.
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # Only a directory this script made (it holds our settings or nodes) is removed whole.
  if [ -f "$settings" ] || [ -d "$node_dirs" ] || [ -d "$KUBENODE_CONTROL_PLANE_DIR" ]; then rm -rf "$dir"; fi
  # /var/lib/kubenode itself, when the default cluster made it and nothing else lives there.
  [ "$dir" != "$default_dir" ] || rmdir "$(dirname "$dir")" 2>/dev/null || true

  # Prove it: nothing of ours may remain.
  ip netns list 2>/dev/null | awk '{print $1}' | grep -q "^$cname-node" && leftovers+=("namespaces: $(ip netns list | awk '{print $1}' | grep "^$cname-node" | tr '\n' ' ')")
  ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -q "^$cname-v" && leftovers+=("links: $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep "^$cname-v" | tr '\n' ' ')")
  if command -v docker >/dev/null && [ -n "$(docker ps -aq --filter "label=kubenode.io/cluster=$cname" 2>/dev/null)" ]; then
    leftovers+=("containers: $(docker ps -a --filter "label=kubenode.io/cluster=$cname" --format '{{.Names}}' | tr '\n' ' ')")
  fi
  [ ${#leftovers[@]} -eq 0 ] || die "down left behind: ${leftovers[*]}"
  echo "cluster $cname removed"
}

# Exit status as control-plane.sh status (and `systemctl status`): 0 up, 1 a program of a node
# is not running (died, or was never started), 3 not up (no nodes, or no control plane; a
# --network-only cluster has none). A partitioned or impaired node is up: that is on purpose.
status() {
  local i ns veth state dead=0
  echo "cluster $cname: bridge $bridge $host_ip/$subnet_bits, pod network $cluster_cidr, proxy mode $proxy_mode, state in $dir"
  if [ -z "$(node_indexes)" ]; then echo "no nodes (up with: $0 up --nodes 2)"; return 3; fi
  printf '\n%-14s %-16s %-11s %-10s %-8s %-8s %s\n' NODE ADDRESS NETWORK AGENT PROXY HOSTGW IMPAIRMENT
  for i in $(node_indexes); do
    ns=$(ns_of "$i"); veth=$(veth_of "$i")
    state=connected
    bridge link show dev "$veth" 2>/dev/null | grep -q 'state disabled' && state=PARTITIONED
    local procs=() c f
    for c in agent proxy hostgw; do
      f=$node_dirs/$ns/run/$c.pid
      if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then procs+=(running); else procs+=(-); fi
      [[ " ${KUBENODE_NODE_COMPONENTS:-agent proxy hostgw} " != *" $c "* ]] || [ "${procs[-1]}" = running ] || dead=1
    done
    printf '%-14s %-16s %-11s %-10s %-8s %-8s %s\n' "$ns" "$(node_ip "$i")" "$state" "${procs[@]}" "$(netem_describe "$i")"
  done
  if cp_up; then
    echo; kubectl_admin get nodes -o wide 2>&1 || true
    echo; kubectl_admin get pods -A -o wide 2>&1 || true
    echo; kubectl_admin get services -A -o wide 2>&1 || true
  else
    echo; echo "control plane: not running"
    return 3
  fi
  [ "$dead" = 0 ] || { echo; echo "not every node program runs (see: $0 logs NODE agent|proxy|hostgw)"; return 1; }
}

# --- network emulation ----------------------------------------------------------------------
# The impairment applies to packets *arriving at* the node: with the kernel's netem qdisc on the
# bridge side of the node's veth (the hypervisor's side of a VM's link). Where the kernel has no
# sch_netem, the same inside the node's namespace: an iptables `statistic` drop for --loss
# (silent, as on a wire) and, for --delay, an NFQUEUE whose verdicts a small program holds for
# the delay (test/harness/netem-delay.ts). Either way a ping between the node and anyone sees
# the delay once per round trip.
netem_chain=KUBENODE-NETEM

have_netem() {
  # Probe on our own bridge and remove at once: the only way to know the qdisc exists.
  if tc qdisc add dev "$bridge" root netem delay 0ms 2>/dev/null; then tc qdisc del dev "$bridge" root 2>/dev/null; return 0; fi
  return 1
}

netem_describe() {
  local i=$1 out="" rules
  out=$(tc qdisc show dev "$(veth_of "$i")" 2>/dev/null | grep -o 'netem.*' | sed -E 's/limit [0-9]+ ?//' || true)
  rules=$(ip netns exec "$(ns_of "$i")" iptables -t raw -S "$netem_chain" 2>/dev/null || true)
  [ -z "$rules" ] && { echo "$out"; return 0; }
  local loss delay
  loss=$(grep -o 'probability [0-9.]*' <<<"$rules" | awk '{printf "loss %.4g%%", $2*100}' || true)
  delay=$(grep -o 'netem --delay [^ "]*' <<<"$rules" | sed 's/netem --//' | tr -d '"' || true)
  echo "netem(iptables) ${delay}${delay:+ }${loss}"
}

netem_clear() {
  local i=$1 ns
  ns=$(ns_of "$i")
  tc qdisc del dev "$(veth_of "$i")" root 2>/dev/null || true
  ip netns exec "$ns" iptables -t raw -D PREROUTING -i eth0 -j "$netem_chain" 2>/dev/null || true
  ip netns exec "$ns" iptables -t raw -F "$netem_chain" 2>/dev/null || true
  ip netns exec "$ns" iptables -t raw -X "$netem_chain" 2>/dev/null || true
  stop_pidfile "$run/netem-delay-$i.pid"
}

netem() {
  require_root netem
  local i delay="" loss="" clear=0
  i=$(node_index "${1:-}"); shift
  while [ $# -gt 0 ]; do
    case $1 in
      --delay) [ $# -ge 2 ] || die "--delay needs a duration like 50ms"; delay=$2; shift 2 ;;
      --loss) [ $# -ge 2 ] || die "--loss needs a percentage like 1%"; loss=$2; shift 2 ;;
      --clear) clear=1; shift ;;
      *) die "netem: unknown flag '$1' (expected --delay 50ms, --loss 1%, --clear)" ;;
    esac
  done
  [ -z "$delay" ] || [[ $delay =~ ^[0-9]+(\.[0-9]+)?(us|ms|s)$ ]] || die "--delay '$delay' is not a duration like 50ms"
  [ -z "$loss" ] || [[ $loss =~ ^[0-9]+(\.[0-9]+)?%$ ]] || die "--loss '$loss' is not a percentage like 1%"
  if [ -n "$loss" ]; then awk -v l="${loss%\%}" 'BEGIN{exit !(l <= 100)}' || die "--loss '$loss' is over 100%"; fi
  netem_clear "$i"
  if [ "$clear" = 1 ] || { [ -z "$delay" ] && [ -z "$loss" ]; }; then echo "$(ns_of "$i"): no impairment"; return 0; fi
  if have_netem; then
    local args=()
    [ -z "$delay" ] || args+=(delay "$delay")
    [ -z "$loss" ] || args+=(loss "$loss")
    tc qdisc add dev "$(veth_of "$i")" root netem "${args[@]}"
  else
    local ns rules=() delayer=$root/dist/test/harness/netem-delay.js
    ns=$(ns_of "$i")
    if [ -n "$loss" ]; then
      rules+=("-A $netem_chain -m statistic --mode random --probability $(awk -v l="${loss%\%}" 'BEGIN{printf "%.6f", l/100}') -m comment --comment \"kubenode netem --loss $loss\" -j DROP")
    fi
    if [ -n "$delay" ]; then
      [ -f "$delayer" ] || die "this kernel has no netem qdisc, and the fallback $delayer is not built: run 'npm run build'"
      mkdir -p "$run" "$logs"
      local dlog=$logs/netem-delay-$i.log
      in_node "$i" setsid node "$delayer" --queue 0 --delay "$delay" >"$dlog" 2>&1 </dev/null &
      echo $! >"$run/netem-delay-$i.pid"
      # Packets may only be queued once the program has bound the queue (else they pass undelayed).
      for _ in $(seq 1 100); do grep -q ready "$dlog" && break; kill -0 "$(cat "$run/netem-delay-$i.pid")" 2>/dev/null || break; sleep 0.1; done
      grep -q ready "$dlog" || { stop_pidfile "$run/netem-delay-$i.pid"; die "the delay program did not start: $(tail -3 "$dlog")"; }
      # --queue-bypass: should the program die, packets pass undelayed instead of being dropped.
      rules+=("-A $netem_chain -m comment --comment \"kubenode netem --delay $delay\" -j NFQUEUE --queue-num 0 --queue-bypass")
    fi
    { echo '*raw'; echo ":$netem_chain - [0:0]"; printf '%s\n' "${rules[@]}"; echo "-A PREROUTING -i eth0 -j $netem_chain"; echo COMMIT; } |
      ip netns exec "$ns" iptables-restore --noflush
  fi
  echo "$(ns_of "$i"): $(netem_describe "$i")"
}

partition() {
  require_root partition
  local i; i=$(node_index "${1:-}")
  # Disabling the node's bridge port drops everything to and from it while its link stays up,
  # as a broken switch or a firewall would: nobody is told, connections just stop.
  bridge link set dev "$(veth_of "$i")" state 0
  echo "$(ns_of "$i") ($(node_ip "$i")) partitioned: it reaches neither the control plane nor other nodes"
}

heal() {
  require_root heal
  local i; i=$(node_index "${1:-}")
  bridge link set dev "$(veth_of "$i")" state 3
  netem_clear "$i"
  echo "$(ns_of "$i") ($(node_ip "$i")) healed"
}

# kubenode-trace with the node's namespace, its CNI result cache (pod names) and, when the
# control plane runs, the admin kubeconfig (pods on other nodes). Everything else is passed on.
trace() {
  require_root trace
  local args=() node=""
  while [ $# -gt 0 ]; do
    case $1 in
      --node) [ $# -ge 2 ] || die "--node needs a node (1, node1 or $cname-node1)"; node=$2; shift 2 ;;
      --node=*) node=${1#--node=}; shift ;;
      -h|--help) exec node "$root/bin/kubenode-trace.js" --help ;;
      --) args+=("$@"); break ;;
      *) args+=("$1"); shift ;;
    esac
  done
  [ -n "$node" ] || { echo "usage: $0 trace --node NODE [kubenode-trace arguments]" >&2; exit 2; }
  local i ns extra=()
  i=$(node_index "$node"); ns=$(ns_of "$i")
  extra=(--cni-cache-dir "$node_dirs/$ns/root/cni-cache")
  if cp_up; then extra+=(--kubeconfig "$KUBENODE_CONTROL_PLANE_DIR/admin.kubeconfig"); fi
  exec node "$root/bin/kubenode-trace.js" --node "$ns" "${extra[@]}" "${args[@]}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) up "$@" ;;
  down) down ;;
  status) status ;;
  kubeconfig) [ -f "$KUBENODE_CONTROL_PLANE_DIR/admin.kubeconfig" ] || die "cluster $cname is not up: $0 up"; echo "$KUBENODE_CONTROL_PLANE_DIR/admin.kubeconfig" ;;
  env) cp_up || die "cluster $cname is not up (no apiserver): $0 up"; cp_sh env ;;
  kubectl) cp_up || die "cluster $cname is not up (no apiserver): $0 up"; kubectl_admin "$@" ;;
  nodes) for i in $(node_indexes); do echo "$(ns_of "$i") $(node_ip "$i") $(ns_of "$i")"; done ;;
  exec)
    require_root exec
    i=$(node_index "${1:-}"); shift
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "usage: $0 exec NODE -- COMMAND..."
    exec ip netns exec "$(ns_of "$i")" "$@"
    ;;
  netem) netem "$@" ;;
  partition) partition "$@" ;;
  heal) heal "$@" ;;
  reboot) reboot_node "$@" ;;
  logs)
    i=$(node_index "${1:-}"); c=${2:-}
    [[ $c =~ ^(agent|proxy|hostgw)$ ]] || die "usage: $0 logs NODE agent|proxy|hostgw [-f]"
    f=$node_dirs/$(ns_of "$i")/logs/$c.log
    [ -f "$f" ] || die "no $c log for $(ns_of "$i") yet ($f)"
    if [ "${3:-}" = -f ]; then exec tail -n 50 -F "$f"; else cat "$f"; fi
    ;;
  trace) trace "$@" ;;
  ""|-h|--help|help) usage; [ -n "$cmd" ] || exit 2 ;;
  *) echo "cluster.sh: unknown subcommand '$cmd' (expected up, down, status, kubeconfig, kubectl, env, nodes, exec, netem, partition, heal, reboot, logs, trace)" >&2; exit 2 ;;
esac
