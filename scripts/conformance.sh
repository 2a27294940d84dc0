#!/usr/bin/env bash
# Upstream's conformance suite against kubenode: brings up an emulated cluster of its own
# (scripts/cluster.sh: its own name, subnet, pod network and ports, so it never meets `npm start`
# or a test's cluster), runs e2e.test of the pinned release under the Ginkgo CLI, tears the
# cluster down (also on Ctrl-C), and prints one line per spec and "N passed, N failed".
#
# Usage: sudo scripts/conformance.sh [--focus REGEXP]... [--skip REGEXP]... [--procs N] [--keep]
#        npm run conformance [-- ARGS...]
#
# What runs: the specs labelled Conformance of [sig-node], [sig-network] and the node-side
# [sig-storage] volume kinds (ConfigMap, Secret, Downward API, Projected, EmptyDir, Subpath,
# HostPath), less test/conformance/skip.txt. A pass of N parallel processes (3) skips [Serial] and
# [Disruptive]; those then run alone, in one process. --focus narrows to specs whose name matches
# (Ginkgo ORs several), --skip adds to the skipped; --keep leaves the cluster up for a look.
#
# Output, in $KUBENODE_CONFORMANCE_DIR (default /var/lib/kubenode/conformance/<time>):
# junit_parallel_01.xml, junit_serial_01.xml (the suite's own JUnit reports), ginkgo-*.log, and
# the cluster's logs copied before teardown. Exit status 0 only when every spec that ran passed.
#
# Settings: KUBENODE_CONFORMANCE_CLUSTER (knconf), KUBENODE_CONFORMANCE_SUBNET (192.168.70.0/24),
# KUBENODE_CONFORMANCE_CLUSTER_CIDR (10.70.0.0/16), KUBENODE_CONFORMANCE_PORTS (apiserver, etcd
# client, etcd peer, controller-manager, scheduler: "31443 31444 31445 31446 31447"),
# KUBENODE_CONFORMANCE_TIMEOUT (Ginkgo's --timeout for each pass: 3h).
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"
die() { echo "conformance.sh: $*" >&2; exit 2; }
step() { printf '==> %s\n' "$*"; }

focus=() skip=() procs=3 keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --focus) [ $# -ge 2 ] || die "--focus needs a regular expression"; focus+=("$2"); shift 2 ;;
    --focus=*) focus+=("${1#--focus=}"); shift ;;
    --skip) [ $# -ge 2 ] || die "--skip needs a regular expression"; skip+=("$2"); shift 2 ;;
    --skip=*) skip+=("${1#--skip=}"); shift ;;
    --procs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--procs needs a number >= 1"; procs=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) die "unknown argument '$1' (expected --focus RE, --skip RE, --procs N, --keep)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "must run as root (the emulated cluster makes namespaces, links and containers): sudo $0"
command -v node >/dev/null || die "node (Node.js 20) is not installed"
[ -f "$root/dist/test/conformance/summary.js" ] || die "kubenode is not built: run 'npm run build'"

# --- builds and images (cached: seconds when done before) -------------------------------------
bash "$here/build-conformance.sh"
bash "$here/build-conformance-images.sh"
bin=${KUBENODE_CACHE:-/var/cache/kubenode}/bin/conformance-$KUBERNETES_VERSION

# --- the cluster ----------------------------------------------------------------------------
read -r api_port etcd_client_port etcd_peer_port cm_port sched_port <<<"${KUBENODE_CONFORMANCE_PORTS:-31443 31444 31445 31446 31447}"
[[ ${sched_port:-} =~ ^[0-9]+$ ]] || die "KUBENODE_CONFORMANCE_PORTS must be five port numbers (apiserver, etcd client, etcd peer, controller-manager, scheduler)"
export KUBENODE_CLUSTER_NAME=${KUBENODE_CONFORMANCE_CLUSTER:-knconf}
export KUBENODE_CLUSTER_SUBNET=${KUBENODE_CONFORMANCE_SUBNET:-192.168.70.0/24}
export CLUSTER_CIDR=${KUBENODE_CONFORMANCE_CLUSTER_CIDR:-10.70.0.0/16}
export KUBENODE_CLUSTER_DIR=/var/lib/kubenode/cluster-$KUBENODE_CLUSTER_NAME
export APISERVER_PORT=$api_port ETCD_CLIENT_PORT=$etcd_client_port ETCD_PEER_PORT=$etcd_peer_port
export CONTROLLER_MANAGER_PORT=$cm_port SCHEDULER_PORT=$sched_port
# The node lifecycle defaults kubelet's clusters have: the suite's taint specs count on the
# upstream 300 s toleration, not the short failover settings of the demo cluster.
export NODE_MONITOR_GRACE_PERIOD=40s NOT_READY_TOLERATION_SECONDS=300
cluster() { bash "$here/cluster.sh" "$@"; }

out=${KUBENODE_CONFORMANCE_DIR:-/var/lib/kubenode/conformance/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"

# teardown_cluster: the cluster's logs into $out, then the cluster down (unless --keep).
teardown_cluster() {
  if [ -d "$KUBENODE_CLUSTER_DIR/nodes" ]; then
    mkdir -p "$out/cluster-logs"
    cp -r "$KUBENODE_CLUSTER_DIR/logs" "$out/cluster-logs/host" 2>/dev/null || true
    for d in "$KUBENODE_CLUSTER_DIR"/nodes/*/; do cp -r "$d/logs" "$out/cluster-logs/$(basename "$d")" 2>/dev/null || true; done
  fi
  if [ "$keep" = 1 ]; then
    echo "cluster $KUBENODE_CLUSTER_NAME left up (--keep): KUBENODE_CLUSTER_NAME=$KUBENODE_CLUSTER_NAME $here/cluster.sh down"
  else
    step "tearing down cluster $KUBENODE_CLUSTER_NAME"
    cluster down >"$out/cluster-down.log" 2>&1 || { echo "conformance.sh: cluster down failed: see $out/cluster-down.log" >&2; return 1; }
  fi
}
teardown() {
  local rc=$?
  trap - EXIT INT TERM
  teardown_cluster || rc=1
  exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A cluster of ours left by a run that was killed (SIGKILL, power) is removed first.
cluster down >/dev/null 2>&1 || true
step "cluster $KUBENODE_CLUSTER_NAME: 2 nodes on $KUBENODE_CLUSTER_SUBNET, apiserver port $APISERVER_PORT"
cluster up --nodes 2 2>&1 | sed 's/^/    /' || die "cluster up failed (the output above says why)"
kubeconfig=$(cluster kubeconfig)
kubectl=${KUBENODE_CACHE:-/var/cache/kubenode}/bin/k8s-$KUBERNETES_VERSION/kubectl
# Cluster DNS, when the cluster deploys it: the DNS specs need it answering before they start.
if "$kubectl" --kubeconfig "$kubeconfig" -n kube-system get deployment coredns >/dev/null 2>&1; then
  step "waiting for CoreDNS"
  "$kubectl" --kubeconfig "$kubeconfig" -n kube-system rollout status deployment/coredns --timeout=180s 2>&1 | sed 's/^/    /' ||
    echo "    CoreDNS is not ready after 180 s: the DNS specs will fail (see its pods: $here/cluster.sh kubectl -n kube-system get pods)"
fi

# --- the specs ------------------------------------------------------------------------------
# The sig-storage specs that are not about a node's volumes (CSI objects, PersistentVolume and
# StorageClass API lifecycles) are out of this focus.
skips=('\[sig-storage\] (CSI|PersistentVolumes|StorageClasses|VolumeAttachment)')
# skip.txt: one regular expression per line, "REGEXP  # reason"; blank lines and comments ignored.
while IFS= read -r line; do
  line=${line%%#*}; line=$(sed -E 's/[[:space:]]+$//' <<<"$line")
  [ -n "$line" ] && skips+=("$line")
done <"$root/test/conformance/skip.txt"
skips+=("${skip[@]}")
ginkgo_args=(--timeout="${KUBENODE_CONFORMANCE_TIMEOUT:-3h}" --no-color --silence-skips --poll-progress-after=5m)
for s in "${skips[@]}"; do ginkgo_args+=(--skip="$s"); done
for f in "${focus[@]}"; do ginkgo_args+=(--focus="$f"); done
labels='Conformance && (sig-node || sig-network || sig-storage)'
suite_args=(--provider=skeleton --kubeconfig="$kubeconfig" --kubectl-path="$kubectl" --report-dir="$out"
  --disable-log-dump --minStartupPods=-1 --node-schedulable-timeout=5m)

reports=()
pass() {  # pass NAME LABEL-FILTER GINKGO-FLAGS...: one run of the suite; its status is not ours
  local name=$1 filter=$2 count; shift 2
  # A dry run (seconds) says how many specs the pass selects; a pass of none is not started.
  count=$("$bin/ginkgo" "${ginkgo_args[@]}" --label-filter="$filter" --dry-run "$bin/e2e.test" -- "${suite_args[@]}" 2>&1 |
    sed -nE 's/^Ran ([0-9]+) of [0-9]+ Specs.*/\1/p' | tail -1)
  if [ "${count:-0}" = 0 ]; then step "$name pass: no spec selected"; return 0; fi
  step "$name pass: $count specs ($filter)"
  "$bin/ginkgo" "${ginkgo_args[@]}" --label-filter="$filter" "$@" "$bin/e2e.test" -- \
    "${suite_args[@]}" --report-prefix="${name}_" >"$out/ginkgo-$name.log" 2>&1 || true
  echo "    log: $out/ginkgo-$name.log"
  # Missing when the suite crashed: the summary then counts it as a failure.
  reports+=("$out/junit_${name}_01.xml")
}
pass parallel "$labels && !Serial && !Disruptive" -p --procs="$procs"
pass serial "$labels && (Serial || Disruptive)"

rc=0
node "$root/dist/test/conformance/summary.js" "${reports[@]}" >"$out/summary.txt" || rc=$?
teardown_cluster || rc=1
trap - EXIT INT TERM
# The table and its "N passed, N failed" come last, after the teardown's own lines.
step "results ($out)"
cat "$out/summary.txt"
exit "$rc"
