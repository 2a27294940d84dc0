# `cluster.sh reboot NODE [--down-for SECONDS]`: a power cut of one emulated node, then its boot.
# Sourced by scripts/cluster.sh, whose helpers (node_index, node_sh, ensure_node_network, ...) it uses.
# shellcheck shell=bash
#
# What a power cut loses, and so what this removes: every process of the node (SIGKILLed, no
# graceful stop: no preStop, no CNI DEL, no Lease or status update), its pod containers (Docker's
# state of the node), its network namespace with every link, address, route and iptables rule in
# it, and its tmpfs mounts (secret and service-account volumes). What survives, as a disk does:
# the node's directory (its /var/lib: the agent's root dir with the sandboxes' network records,
# certificates and kubeconfigs, the CNI configuration and kubenode-ipam's allocation store under
# ipam/). The booted node starts from that disk: the agent finds the pods' sandboxes gone, makes
# new ones, and its garbage collection (agent/runtime/gc.ts, every --housekeeping-interval)
# releases the addresses the dead sandboxes still hold, with a CNI DEL from each vanished
# sandbox's network record (written before its CNI ADD, so every allocation has one).

reboot_node() {
  require_root reboot
  local i down_for=0
  i=$(node_index "${1:-}"); shift
  while [ $# -gt 0 ]; do
    case $1 in
      --down-for) [ $# -ge 2 ] || die "--down-for needs a number of seconds"; down_for=$2; shift 2 ;;
      --down-for=*) down_for=${1#--down-for=}; shift ;;
      *) die "reboot: unknown flag '$1' (expected --down-for SECONDS)" ;;
    esac
  done
  [[ $down_for =~ ^[0-9]+$ ]] || die "--down-for '$down_for' is not a whole number of seconds"
  local ns nd pids ids
  ns=$(ns_of "$i"); nd=$node_dirs/$ns
  step "power cut of $ns ($(node_ip "$i"))"
  # Every process in the node's namespace (agent, proxy, hostgw, a netem delayer), at once.
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  # The pid files live on the node's disk here; a real node's are in /run, which a reboot empties.
  rm -f "$nd"/run/*.pid "$run/netem-delay-$i.pid"
  ids=$(docker ps -aq --filter "label=kubenode.io/instance=$ns" 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker rm -f $ids >/dev/null
  echo "    killed $(wc -w <<<"$pids") processes, removed $(wc -w <<<"$ids") pod containers"
  awk -v d="$nd/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  ip netns delete "$ns" 2>/dev/null || true
  docker rm -f "$(holder_of "$i")" >/dev/null 2>&1 || true
  ip link delete "$(veth_of "$i")" 2>/dev/null || true
  if [ "$down_for" -gt 0 ]; then echo "    down for ${down_for}s"; sleep "$down_for"; fi

  step "boot of $ns"
  ensure_node_network "$i" 1
  # A token-joined node boots with its bootstrap kubeconfig and the certificates on its disk; the
  # agent still gets a bootstrap token (the first one may have expired) for when they have.
  if [ "$join_mode" = token ]; then
    join_line=$(APISERVER_ADVERTISE_ADDRESS=$host_ip cp_sh token create --ttl 1h | tail -1)
  fi
  node_sh "$i" up | sed 's/^/    /'
  echo "$ns rebooted: $0 status; its pods are recreated by its agent"
}
