#!/usr/bin/env bash
# A real Kubernetes control plane for kubenode's nodes: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler, built from upstream sources by
# scripts/build-control-plane.sh, run as plain processes with certificates made by openssl.
#
# Usage:
#   scripts/control-plane.sh up          start everything (or say it is already up)
#   scripts/control-plane.sh down        stop everything; `down --purge` also removes its state
#   scripts/control-plane.sh status      what runs, and whether the apiserver is ready; exits 0 when
#                                        all is up, 1 when a component died or the apiserver is
#                                        not ready, 3 when stopped (as `systemctl status`)
#   scripts/control-plane.sh stop apiserver     stop only kube-apiserver (etcd, the other
#                                        components and all state stay); `start apiserver`
#                                        starts it again and waits for /readyz; `restart apiserver`
#   scripts/control-plane.sh stop etcd   stop only etcd (its data stays); `start etcd` starts it
#                                        again and waits for its /health
#   scripts/control-plane.sh kubeconfig  print the admin kubeconfig's path
#   scripts/control-plane.sh env         shell lines putting the pinned kubectl on PATH and the admin
#                                        kubeconfig in KUBECONFIG: eval "$(sudo scripts/control-plane.sh env)"
#   scripts/control-plane.sh addons      apply the cluster add-ons (scripts/addons/: CoreDNS as the
#                                        kube-dns Service at CLUSTER_DNS_IP) to the running cluster
#   scripts/control-plane.sh kubectl ARGS...         kubectl as the cluster admin
#   scripts/control-plane.sh node-credentials NAME [IP...]
#                                        client certificate (system:node:NAME) and kubelet
#                                        serving certificate for a node; prints its directory
#   scripts/control-plane.sh token create [--ttl 24h]
#                                        a bootstrap token for TLS bootstrapping (--ttl 0: never
#                                        expires); the last line printed is the join command:
#                                        KUBENODE_APISERVER=... KUBENODE_BOOTSTRAP_TOKEN=...
#                                        KUBENODE_CA_CERT_HASH=sha256:... scripts/node.sh up
#
# Settings (environment; tests give each run its own directory and ports):
#   KUBENODE_CONTROL_PLANE_DIR  state: pki, etcd data, logs, pids   (/var/lib/kubenode/control-plane)
#   APISERVER_PORT (6443) ETCD_CLIENT_PORT (2379) ETCD_PEER_PORT (2380)
#   CONTROLLER_MANAGER_PORT (10257) SCHEDULER_PORT (10259)   0 disables their HTTPS endpoints
#   APISERVER_ADVERTISE_ADDRESS  the address nodes use to reach the apiserver (default: the
#                                first global IPv4 address of this machine)
#   APISERVER_EXTRA_SANS         more addresses for the serving certificate, space separated
#   APISERVER_READY_TIMEOUT      seconds to wait for the apiserver's /readyz (90; a VM under
#                                software emulation needs several minutes)
#   CLUSTER_CIDR (10.244.0.0/16) SERVICE_CIDR (10.96.0.0/16) NODE_CIDR_MASK_SIZE (24)
#   NODE_MONITOR_GRACE_PERIOD (40s)  NOT_READY_TOLERATION_SECONDS (300)
#   CLUSTER_SIGNING_DURATION     lifetime of certificates the controller-manager signs for CSRs
#                                (its --cluster-signing-duration; unset: upstream's 1 year)
#   CLUSTER_DNS_IP (the tenth address of SERVICE_CIDR: 10.96.0.10)  CLUSTER_DOMAIN (cluster.local)
#                                the kube-dns Service's address and the domain it answers for;
#                                agents get the same values (--cluster-dns, --cluster-domain)
set -euo pipefail
. "$(dirname "$0")/lib/help.sh"
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/versions.sh
. "$here/versions.sh"

dir=${KUBENODE_CONTROL_PLANE_DIR:-/var/lib/kubenode/control-plane}
bin=${KUBENODE_CONTROL_PLANE_BIN:-${KUBENODE_CACHE:-/var/cache/kubenode}/bin/k8s-$KUBERNETES_VERSION}
apiserver_port=${APISERVER_PORT:-6443}
etcd_client_port=${ETCD_CLIENT_PORT:-2379}
etcd_peer_port=${ETCD_PEER_PORT:-2380}
cm_port=${CONTROLLER_MANAGER_PORT:-10257}
sched_port=${SCHEDULER_PORT:-10259}
cluster_cidr=${CLUSTER_CIDR:-10.244.0.0/16}
service_cidr=${SERVICE_CIDR:-10.96.0.0/16}
node_mask=${NODE_CIDR_MASK_SIZE:-24}
grace=${NODE_MONITOR_GRACE_PERIOD:-40s}
toleration=${NOT_READY_TOLERATION_SECONDS:-300}
components=(etcd kube-apiserver kube-controller-manager kube-scheduler csr-approver)

pki=$dir/pki
# kubenode's approver of kubelet-serving CSRs (approver/), run with node like the agent.
approver=$here/../dist/approver/main.js
logs=$dir/logs
run=$dir/run
admin_kubeconfig=$dir/admin.kubeconfig

die() { echo "control-plane: $*" >&2; exit 1; }

usage() {
  print_usage >&2
}

# The first global IPv4 address: what the apiserver advertises in the `kubernetes` Service.
default_advertise() {
  ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1
}
advertise=${APISERVER_ADVERTISE_ADDRESS:-$(default_advertise)}
advertise=${advertise:-127.0.0.1}

# The first address of the service range is the `kubernetes` Service's ClusterIP; the
# apiserver's certificate must name it so pods can verify it.
first_service_ip() {
  local net=${service_cidr%/*}
  IFS=. read -r a b c d <<<"$net"
  echo "$a.$b.$c.$((d + 1))"
}

# The tenth address of the service range: the kube-dns Service's ClusterIP, by convention
# (kubeadm's and kube-up's choice), so agents can be told it before the Service exists.
dns_service_ip() {
  local net=${service_cidr%/*}
  IFS=. read -r a b c d <<<"$net"
  echo "$a.$b.$c.$((d + 10))"
}
cluster_dns_ip=${CLUSTER_DNS_IP:-$(dns_service_ip)}
cluster_domain=${CLUSTER_DOMAIN:-cluster.local}

pid_of() { local f=$run/$1.pid; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }
running() { pid_of "$1" >/dev/null; }

port_taken() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# --- certificates ---------------------------------------------------------------------------
# cert NAME SUBJECT USAGE [SAN...]: a key and a certificate signed by our CA.
#   USAGE is serverAuth, clientAuth or both ("serverAuth,clientAuth").
cert() {
  local name=$1 subject=$2 usage=$3; shift 3
  [ -f "$pki/$name.crt" ] && return 0
  local ext; ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    if [ $# -gt 0 ]; then
      local sans="" s
      for s in "$@"; do
        if [[ $s =~ ^[0-9.]+$ ]]; then sans="$sans,IP:$s"; else sans="$sans,DNS:$s"; fi
      done
      echo "subjectAltName=${sans#,}"
    fi
  } > "$ext"
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$ext" "$pki/$name.csr"
  chmod 0600 "$pki/$name.key"
}

ensure_pki() {
  mkdir -p "$pki"
  chmod 0700 "$pki"
  if [ ! -f "$pki/ca.crt" ]; then
    openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=kubenode-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$pki/ca.crt" 2>/dev/null
  fi
  # shellcheck disable=SC2086
  cert apiserver "/CN=kube-apiserver" serverAuth \
    kubernetes kubernetes.default kubernetes.default.svc kubernetes.default.svc.cluster.local localhost \
    127.0.0.1 "$(first_service_ip)" "$advertise" ${APISERVER_EXTRA_SANS:-}
  # The apiserver's client identity towards kubelets (logs, exec): bound to the built-in
  # system:kubelet-api-admin role below rather than made a cluster admin.
  cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" clientAuth
  cert admin "/O=system:masters/CN=kubernetes-admin" clientAuth
  cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  cert scheduler "/CN=system:kube-scheduler" clientAuth
  cert csr-approver "/CN=kubenode:csr-approver" clientAuth
  [ -f "$pki/sa.key" ] || { openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null; openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null; }
}

# kubeconfig FILE USER CERT_NAME: a kubeconfig using client certificate files.
kubeconfig() {
  local file=$1 user=$2 certname=$3 server=${4:-https://127.0.0.1:$apiserver_port}
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kubenode
  cluster:
    certificate-authority: $pki/ca.crt
    server: $server
users:
- name: $user
  user:
    client-certificate: $pki/$certname.crt
    client-key: $pki/$certname.key
contexts:
- name: $user@kubenode
  context: {cluster: kubenode, user: $user}
current-context: $user@kubenode
EOF
  chmod 0600 "$file"
}

# --- processes ------------------------------------------------------------------------------
start() {
  local name=$1; shift
  mkdir -p "$logs" "$run"
  # setsid: the component outlives this script; its pid file is how `down` finds it.
  setsid "$@" >>"$logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$run/$name.pid"
}

stop() {
  local name=$1 pid
  pid=$(pid_of "$name") || { rm -f "$run/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$run/$name.pid"
}

stop_all() {
  local i
  for ((i = ${#components[@]} - 1; i >= 0; i--)); do stop "${components[$i]}"; done
}

# wait_for NAME SECONDS COMMAND...: poll until COMMAND succeeds; fail if NAME died meanwhile.
wait_for() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    running "$name" || { echo "control-plane: $name exited; last lines of $logs/$name.log:" >&2; tail -15 "$logs/$name.log" >&2; return 1; }
    [ $SECONDS -lt $deadline ] || { echo "control-plane: $name not ready after ${secs}s; see $logs/$name.log" >&2; return 1; }
    sleep 0.3
  done
}

apiserver_ready_timeout=${APISERVER_READY_TIMEOUT:-90}
[[ "$apiserver_ready_timeout" =~ ^[1-9][0-9]*$ ]] || { echo "control-plane: APISERVER_READY_TIMEOUT must be a number of seconds, got '$apiserver_ready_timeout'" >&2; exit 2; }

kubectl_admin() { "$bin/kubectl" --kubeconfig "$admin_kubeconfig" "$@"; }

start_etcd() {
  echo "starting etcd $ETCD_VERSION on 127.0.0.1:$etcd_client_port"
  start etcd "$bin/etcd" --name kubenode --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_client_port" --advertise-client-urls "http://127.0.0.1:$etcd_client_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "kubenode=http://127.0.0.1:$etcd_peer_port" \
    --listen-metrics-urls "" --log-level warn --quota-backend-bytes 2147483648
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$etcd_client_port/health"
}

start_apiserver() {
  echo "starting kube-apiserver $KUBERNETES_VERSION on :$apiserver_port (advertised as $advertise)"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_client_port" \
    --bind-address 0.0.0.0 --secure-port "$apiserver_port" --advertise-address "$advertise" \
    --service-cluster-ip-range "$service_cidr" --allow-privileged=true \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --client-ca-file "$pki/ca.crt" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" --kubelet-preferred-address-types InternalIP,Hostname \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --default-not-ready-toleration-seconds "$toleration" --default-unreachable-toleration-seconds "$toleration" \
    --profiling=false --enable-bootstrap-token-auth --anonymous-auth=true
}

up() {
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$bin/$c" ] || die "$bin/$c is missing: run 'sudo scripts/setup.sh' (it builds the control plane from upstream sources)"
  done
  command -v openssl >/dev/null || die "openssl is not installed: apt-get install openssl"
  [ -f "$approver" ] || die "$approver is missing: run 'npm run build'"
  if running kube-apiserver; then
    echo "control plane is already up (kubeconfig: $admin_kubeconfig)"
    return 0
  fi
  # Check every port before starting anything, so a taken port leaves nothing half-started.
  local p taken=()
  for p in "$etcd_client_port" "$etcd_peer_port" "$apiserver_port" "$cm_port" "$sched_port"; do
    [ "$p" != 0 ] && port_taken "$p" && taken+=("$p")
  done
  [ ${#taken[@]} -eq 0 ] || die "port ${taken[*]} already in use (by: $(ss -Hltnp "sport = :${taken[0]}" | sed -E 's/.*users:\(\("([^"]+)".*/\1/' | head -1)); stop what uses it or set APISERVER_PORT/ETCD_CLIENT_PORT/ETCD_PEER_PORT/CONTROLLER_MANAGER_PORT/SCHEDULER_PORT"

  mkdir -p "$dir" "$logs" "$run"
  ensure_pki
  kubeconfig "$admin_kubeconfig" admin admin
  kubeconfig "$dir/controller-manager.kubeconfig" controller-manager controller-manager
  kubeconfig "$dir/scheduler.kubeconfig" scheduler scheduler
  kubeconfig "$dir/csr-approver.kubeconfig" csr-approver csr-approver

  # From here on, a failure stops whatever was started.
  trap 'echo "control-plane: start failed; stopping what was started" >&2; stop_all' ERR

  start_etcd
  start_apiserver
  wait_for kube-apiserver "$apiserver_ready_timeout" kubectl_admin get --raw /readyz

  # Let the apiserver reach kubelets (logs, exec) with the built-in kubelet-api-admin role.
  kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubenode:apiserver-kubelet-client}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:kubelet-api-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: kube-apiserver-kubelet-client}
EOF
  bootstrap_setup

  echo "starting kube-controller-manager (node CIDRs from $cluster_cidr, /$node_mask each)"
  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$dir/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/controller-manager.kubeconfig" --authorization-kubeconfig "$dir/controller-manager.kubeconfig" \
    --secure-port "$cm_port" --bind-address 127.0.0.1 --leader-elect=false \
    --allocate-node-cidrs --cluster-cidr "$cluster_cidr" --node-cidr-mask-size "$node_mask" \
    --service-cluster-ip-range "$service_cidr" --use-service-account-credentials \
    --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --node-monitor-grace-period "$grace" ${CLUSTER_SIGNING_DURATION:+--cluster-signing-duration "$CLUSTER_SIGNING_DURATION"} \
    --controllers '*,bootstrapsigner,tokencleaner,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller'
  echo "starting kube-scheduler"
  start kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$dir/scheduler.kubeconfig" \
    --authentication-kubeconfig "$dir/scheduler.kubeconfig" --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
    --secure-port "$sched_port" --bind-address 127.0.0.1 --leader-elect=false
  sleep 1
  running kube-controller-manager || { tail -15 "$logs/kube-controller-manager.log" >&2; false; }
  echo "starting the kubelet-serving CSR approver"
  start csr-approver node "$approver" --kubeconfig "$dir/csr-approver.kubeconfig"
  sleep 1
  running kube-scheduler || { tail -15 "$logs/kube-scheduler.log" >&2; false; }
  running csr-approver || { tail -15 "$logs/csr-approver.log" >&2; false; }
  trap - ERR
  echo "control plane is up: kubectl --kubeconfig $admin_kubeconfig get --raw /readyz"
}

# The exit status says whether the control plane is up, as `systemctl status` and LSB init scripts'
# status action do: 0 running, 1 dead with its pid file left behind (here: a component died, or the
# apiserver does not answer ready), 3 not running (stopped, or never started).
status() {
  local c ready dead=0 stopped=0
  for c in "${components[@]}"; do
    if running "$c"; then printf '%-24s running (pid %s)\n' "$c" "$(pid_of "$c")"
    elif [ -f "$run/$c.pid" ]; then printf '%-24s dead (exited; see %s)\n' "$c" "$logs/$c.log"; dead=1
    else printf '%-24s stopped\n' "$c"; stopped=1
    fi
  done
  if running kube-apiserver; then
    ready=$(kubectl_admin get --raw /readyz 2>&1 | head -1) || true
    printf '%-24s %s\n' "apiserver /readyz" "$ready"
    [ "$ready" = ok ] || dead=1
  fi
  if [ "$dead" = 1 ]; then return 1; fi
  if [ "$stopped" = 1 ]; then return 3; fi
  return 0
}

# stop apiserver / start apiserver: only kube-apiserver, keeping etcd, the other components and all
# state (tests of what clients do while the apiserver is away). stop etcd / start etcd: etcd alone,
# its data kept (with the apiserver stopped too: the whole control plane's store away, as in an
# outage of the control-plane host). Other components: not needed yet.
component_cmd() {
  local verb=$1 what=${2:-}
  case "$what" in
    apiserver | kube-apiserver) what=kube-apiserver ;;
    etcd) ;;
    *) die "usage: $0 $verb apiserver|etcd (only the apiserver or etcd can be stopped or started alone)" ;;
  esac
  case "$verb" in
    stop) stop "$what"; echo "$what stopped" ;;
    start)
      if running "$what"; then echo "$what is already running"; return 0; fi
      if [ "$what" = etcd ]; then
        port_taken "$etcd_client_port" && die "port $etcd_client_port already in use"
        start_etcd
      else
        running etcd || die "etcd is not running: use '$0 start etcd' (or '$0 up')"
        port_taken "$apiserver_port" && die "port $apiserver_port already in use"
        start_apiserver
        wait_for kube-apiserver "$apiserver_ready_timeout" kubectl_admin get --raw /readyz
      fi
      echo "$what is up"
      ;;
    restart) component_cmd stop "$what"; component_cmd start "$what" ;;
  esac
}

node_credentials() {
  local name=${1:-}; [ -n "$name" ] || die "usage: $0 node-credentials NODE_NAME [IP...]"
  shift
  [[ $name =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || die "node name '$name' is not a valid DNS subdomain name"
  [ -f "$pki/ca.crt" ] || die "no CA in $pki: run '$0 up' first"
  local nd=$dir/nodes/$name
  mkdir -p "$nd"
  # The Node authorizer recognises nodes by this exact identity: user system:node:NAME in
  # group system:nodes.
  cert "node-$name" "/O=system:nodes/CN=system:node:$name" clientAuth
  cert "kubelet-$name" "/CN=$name" serverAuth "$name" localhost 127.0.0.1 "$@"
  cp "$pki/node-$name.crt" "$pki/node-$name.key" "$pki/kubelet-$name.crt" "$pki/kubelet-$name.key" "$pki/ca.crt" "$nd/"
  kubeconfig "$nd/kubeconfig" "system:node:$name" "node-$name" "https://$advertise:$apiserver_port"
  sed -i "s#$pki/node-$name#$nd/node-$name#g; s#$pki/ca.crt#$nd/ca.crt#" "$nd/kubeconfig"
  echo "$nd"
}

# --- TLS bootstrapping (kubeadm's bootstrap-token phase) ---------------------------------------
# The SHA-256 of the CA's SubjectPublicKeyInfo (DER): the pin a joining node checks (kubeadm's
# --discovery-token-ca-cert-hash).
ca_cert_hash() {
  echo "sha256:$(openssl x509 -pubkey -noout -in "$pki/ca.crt" | openssl pkey -pubin -outform DER | openssl dgst -sha256 -hex | sed 's/^.* //')"
}

# RBAC for bootstrap tokens, CSR approval and the approver (scripts/bootstrap-rbac.yaml), and
# kube-public/cluster-info: a kubeconfig with only the CA and the apiserver's address, which the
# controller-manager's bootstrapsigner signs with every signing token (jws-kubeconfig-<id>).
bootstrap_setup() {
  kubectl_admin apply -f "$here/bootstrap-rbac.yaml" >/dev/null
  local ci; ci=$(mktemp)
  cat >"$ci" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ""
  cluster:
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
    server: https://$advertise:$apiserver_port
contexts: []
current-context: ""
preferences: {}
users: []
EOF
  kubectl_admin -n kube-public create configmap cluster-info --from-file=kubeconfig="$ci" --dry-run=client -o yaml | kubectl_admin apply --server-side --field-manager=kubenode -f - >/dev/null
  rm -f "$ci"
}

# "24h", "90m", "1h30m", "3600s", "0" -> seconds.
duration_seconds() {
  local d=$1 total=0
  [ "$d" = 0 ] && { echo 0; return; }
  [[ $d =~ ^([0-9]+[hms])+$ ]] || die "--ttl $d: expected a duration such as 24h, 90m, 1h30m (0: never expires)"
  while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
    case ${BASH_REMATCH[2]} in h) total=$((total + BASH_REMATCH[1] * 3600)) ;; m) total=$((total + BASH_REMATCH[1] * 60)) ;; s) total=$((total + BASH_REMATCH[1])) ;; esac
    d=${BASH_REMATCH[3]}
  done
  echo "$total"
}

# A bootstrap token Secret as kubeadm's `token create` makes it: id [a-z0-9]{6}, secret
# [a-z0-9]{16}, usable for authentication and for signing cluster-info, nodes joining with it in
# system:bootstrappers:kubeadm:default-node-token. The last line is the join command.
token_create() {
  local sub=${1:-}; [ "$sub" = create ] || die "usage: $0 token create [--ttl 24h]"
  shift
  local ttl=24h
  while [ $# -gt 0 ]; do
    case $1 in
      --ttl) [ $# -ge 2 ] || die "--ttl needs a value"; ttl=$2; shift 2 ;;
      --ttl=*) ttl=${1#--ttl=}; shift ;;
      *) die "token create: unknown argument '$1' (expected --ttl DURATION)" ;;
    esac
  done
  running kube-apiserver || die "the control plane is not up: run '$0 up' first"
  local secs id secret expiration=""
  secs=$(duration_seconds "$ttl")
  id=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 6 || true)
  secret=$(LC_ALL=C tr -dc 'a-z0-9' </dev/urandom | head -c 16 || true)
  [ "$secs" -gt 0 ] && expiration="  expiration: \"$(date -u -d "@$(($(date +%s) + secs))" +%Y-%m-%dT%H:%M:%SZ)\""
  kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-$id, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData:
  description: "kubenode: scripts/control-plane.sh token create"
  token-id: "$id"
  token-secret: "$secret"
$expiration
  usage-bootstrap-authentication: "true"
  usage-bootstrap-signing: "true"
  auth-extra-groups: "system:bootstrappers:kubeadm:default-node-token"
EOF
  # The address `up` published in cluster-info (what nodes will be told anyway), not this
  # invocation's default: `token create` may run without the APISERVER_ADVERTISE_ADDRESS `up` had.
  local server
  server=$(kubectl_admin -n kube-public get configmap cluster-info -o jsonpath='{.data.kubeconfig}' | sed -n 's/^ *server: *//p' | head -1)
  echo "bootstrap token $id created (ttl $ttl); join a node with:"
  echo "KUBENODE_APISERVER=${server:-https://$advertise:$apiserver_port} KUBENODE_BOOTSTRAP_TOKEN=$id.$secret KUBENODE_CA_CERT_HASH=$(ca_cert_hash) scripts/node.sh up"
}

# The add-ons in scripts/addons/, with this cluster's values filled in, applied as the admin.
# Docker is asked whether the CoreDNS image is there only to say so early: the nodes (which may
# be other machines, with their own Docker) are where it must be.
addons() {
  running kube-apiserver || die "the control plane is not up: run '$0 up' first"
  local image=kubenode/coredns:$COREDNS_VERSION
  if command -v docker >/dev/null && docker info >/dev/null 2>&1 && ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "control-plane: warning: image $image is not in this machine's Docker: run scripts/build-coredns.sh (the coredns pod cannot start on a node without it)" >&2
  fi
  sed -e "s|__COREDNS_IMAGE__|$image|g" -e "s|__DNS_SERVER_IP__|$cluster_dns_ip|g" -e "s|__DNS_DOMAIN__|$cluster_domain|g" \
    "$here/addons/coredns.yaml" | kubectl_admin apply -f -
  echo "cluster DNS: CoreDNS ($image) as Service kube-system/kube-dns at $cluster_dns_ip, domain $cluster_domain"
}

# The shell lines of `env`. Run through sudo by a user, the admin kubeconfig (root's, with keys
# only root may read) is copied for that user with its certificates inline, as kubeadm tells its
# users to copy admin.conf to ~/.kube/config and chown it; the copy lives in this control plane's
# directory, so `down --purge` removes it.
print_env() {
  [ -f "$admin_kubeconfig" ] || die "no kubeconfig yet: run '$0 up'"
  [ -x "$bin/kubectl" ] || die "$bin/kubectl is missing: run 'sudo scripts/setup.sh'"
  local kc=$admin_kubeconfig tmp
  if [ "$(id -u)" = 0 ] && [ -n "${SUDO_UID:-}" ] && [ "$SUDO_UID" != 0 ]; then
    kc=$dir/admin-${SUDO_USER:-$SUDO_UID}.kubeconfig
    tmp=$(mktemp "$dir/.kubeconfig.XXXXXX")
    kubectl_admin config view --raw --flatten --minify >"$tmp"
    chown "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$tmp"
    mv "$tmp" "$kc"
  fi
  # shellcheck disable=SC2016
  printf 'export KUBECONFIG=%q\nexport PATH=%q:"$PATH"\n' "$kc" "$bin"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) up ;;
  down)
    stop_all
    if [ "${1:-}" = --purge ]; then rm -rf "$dir"; echo "control plane stopped and $dir removed"; else echo "control plane stopped"; fi
    ;;
  status) status ;;
  kubeconfig) [ -f "$admin_kubeconfig" ] || die "no kubeconfig yet: run '$0 up'"; echo "$admin_kubeconfig" ;;
  kubectl) kubectl_admin "$@" ;;
  env) print_env ;;
  node-credentials) node_credentials "$@" ;;
  token) token_create "$@" ;;
  addons) addons ;;
  stop|start|restart) component_cmd "$cmd" "$@" ;;
  ""|-h|--help|help) usage; [ -n "$cmd" ] || exit 2 ;;
  *) echo "control-plane: unknown subcommand '$cmd' (expected up, down, status, stop, start, restart, kubeconfig, kubectl, env, node-credentials, token, addons)" >&2; exit 2 ;;
esac
