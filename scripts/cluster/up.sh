#!/usr/bin/env bash
# Brings up, idempotently, a single-node Kubernetes test cluster on this
# machine: containerd, etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kube-proxy as host processes, CoreDNS as a host
# process serving the cluster DNS Service IP, a hostPath volume provisioner
# behind the default StorageClass and kube-router's NetworkPolicy controller
# (MLOPS_STACK_NETWORK_POLICY=none leaves it out). Processes already running are left alone;
# dead ones are started again. State, PIDs and logs live in $state
# (MLOPS_STACK_CLUSTER_DIR, default /var/lib/mlops-stack-cluster); see
# docs/local-cluster.md.
#
# usage: scripts/cluster/up.sh
set -euo pipefail
log_tag=cluster-up
# shellcheck source=scripts/cluster/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (the kubelet and containerd need it)"
mkdir -p "$(dirname "$state")"
lock "$state.lock"
# State whose processes all died (a reboot, a killed session): start afresh
# rather than on top of stale mounts, shims and pod records.
if [ -f "$state/node.env" ] && ! pid_of containerd >/dev/null \
  && ! pid_of etcd >/dev/null && ! pid_of kube-apiserver >/dev/null && ! pid_of kubelet >/dev/null; then
  log "no process of the cluster in $state is alive: removing the stale state first"
  MLOPS_STACK_CLUSTER_LOCK_HELD="$state.lock" "$repo/scripts/cluster/down.sh" 9>&-
fi

pki="$state/pki"
run="$state/run"
logs="$state/logs"
conf="$state/conf"
sock="$run/containerd.sock"
admin_kubeconfig="$conf/admin.kubeconfig"
kube_version=$KUBERNETES_VERSION
started_at=$SECONDS

mkdir -p "$pki" "$run" "$logs" "$conf" "$state/volumes" "$state/cni/net.d" "$out_dir"
chmod 0700 "$pki"

# --- tools -----------------------------------------------------------------
"$repo/scripts/build-tools.sh" cluster
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl coredns containerd \
  containerd-shim-runc-v2; do
  [ -x "$tools_bin/$b" ] || die "$tools_bin/$b is missing (scripts/build-tools.sh cluster)"
done
for b in runc ctr iptables conntrack socat openssl; do
  command -v "$b" >/dev/null || die "$b is missing: scripts/setup.sh --cluster installs it"
done
[ -x /usr/lib/cni/bridge ] || die "CNI plugins missing: apt-get install containernetworking-plugins"
case $NETWORK_POLICY in
  kube-router)
    [ -x "$tools_bin/kube-router" ] || die "$tools_bin/kube-router is missing (scripts/build-tools.sh cluster)"
    command -v ipset >/dev/null || die "ipset is missing: scripts/setup.sh --cluster installs it" ;;
  none) ;;
  *) die "MLOPS_STACK_NETWORK_POLICY=$NETWORK_POLICY: kube-router or none" ;;
esac
"$repo/scripts/cluster/images.sh" build
# shellcheck source=/dev/null
. "$out_dir/images.env"

# --- node facts ----------------------------------------------------------------
node_name=$(hostname | tr '[:upper:]' '[:lower:]')
node_ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[ -n "$node_ip" ] || node_ip=$(hostname -I | awk '{print $1}')
[ -n "$node_ip" ] || die "cannot find this machine's IPv4 address"
facts="NODE_NAME=$node_name NODE_IP=$node_ip KUBERNETES_VERSION=$kube_version"
if [ -f "$state/node.env" ] && [ "$(cat "$state/node.env")" != "$facts" ]; then
  die "this cluster was made for $(cat "$state/node.env"), now $facts: run make cluster-down first"
fi
echo "$facts" >"$state/node.env"

# --- certificates (openssl, once per cluster) ----------------------------------
# cert NAME CN ORG KIND [SANS]: a key and a certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 org=$3 kind=$4 sans=${5:-}
  [ -s "$pki/$name.crt" ] && return 0
  local subj="/CN=$cn" ext="$pki/$name.ext"
  [ -n "$org" ] && subj="/O=$org$subj"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    case $kind in
      client) echo "extendedKeyUsage=clientAuth" ;;
      server) echo "extendedKeyUsage=serverAuth" ;;
      both) echo "extendedKeyUsage=serverAuth,clientAuth" ;;
    esac
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } >"$ext"
  openssl genrsa -out "$pki/$name.key" 2048 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$ext"
}

make_pki() {
  if [ ! -s "$pki/ca.crt" ]; then
    log "generating the cluster CA and certificates"
    openssl genrsa -out "$pki/ca.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=mlops-stack-cluster-ca" -days 3650 -sha256 \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -out "$pki/ca.crt" 2>/dev/null
  fi
  local svc="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
  cert apiserver kube-apiserver "" server \
    "$svc,DNS:localhost,DNS:$node_name,IP:127.0.0.1,IP:$node_ip,IP:$KUBERNETES_SERVICE_IP"
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
  # The aggregation layer's front proxy (request-header authentication).
  cert front-proxy-client front-proxy-client "" client
  cert admin admin system:masters client
  cert controller-manager system:kube-controller-manager "" client
  cert scheduler system:kube-scheduler "" client
  cert kube-proxy system:kube-proxy "" client
  cert kubelet "system:node:$node_name" system:nodes client
  cert kubelet-server "$node_name" "" server "DNS:$node_name,DNS:localhost,IP:$node_ip,IP:127.0.0.1"
  if [ ! -s "$pki/sa.key" ]; then
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  fi
}

# kubeconfig NAME CERT: a kubeconfig for the user in CERT.
kubeconfig() {
  local name=$1 c=$2 file="$conf/$1.kubeconfig"
  [ -s "$file" ] && return 0
  cat >"$file.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: mlops-stack
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$pki/ca.crt")
users:
- name: $name
  user:
    client-certificate-data: $(base64 -w0 <"$pki/$c.crt")
    client-key-data: $(base64 -w0 <"$pki/$c.key")
contexts:
- name: mlops-stack
  context:
    cluster: mlops-stack
    user: $name
current-context: mlops-stack
KC
  chmod 0600 "$file.tmp"
  mv "$file.tmp" "$file"
}

# --- processes -------------------------------------------------------------------
# running NAME: true when the process recorded for NAME is alive.
running() { pid_of "$1" >/dev/null; }

# start NAME COMMAND...: runs COMMAND in its own session, logging to
# $logs/NAME.log, and records its PID, unless it already runs.
start() {
  local name=$1
  shift
  if running "$name"; then
    [ "$(cat "$run/$name.cmd" 2>/dev/null)" = "$*" ] && return 0
    log "command line of $name changed: restarting it"
    stop "$name"
  fi
  log "starting $name (log: $logs/$name.log)"
  echo "$1" >"$run/$name.exe"
  printf '%s' "$*" >"$run/$name.cmd"
  # Its own session, and no descriptor but stdio: a lock our caller holds
  # (ours is fd 9, flock(1) uses 3) must not live on in the cluster.
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c 'for fd in /proc/$$/fd/*; do
      n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null
    exec "$@"' "$name" "$@" </dev/null >>"$logs/$name.log" 2>&1 &
  echo $! >"$run/$name.pid"
}

# wait_for WHAT SECONDS LOG COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what=$1 limit=$2 logfile=$3 deadline=$((SECONDS + $2))
  shift 3
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$what not ready after ${limit}s; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      exit 1
    fi
    sleep 1
  done
}

kubectl_admin() { kubectl --kubeconfig "$admin_kubeconfig" "$@"; }

# write FILE: stdin to FILE, only when it differs (atomically): kube-proxy
# exits when its config file is rewritten, even with the same content.
# A process whose config changed is restarted (restart_if_changed NAME).
written=0
write() {
  cat >"$1.new"
  if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv "$1.new" "$1"; written=1; fi
}
restart_if_changed() {
  if [ "$written" = 1 ] && running "$1"; then
    log "configuration of $1 changed: restarting it"
    stop "$1"
  fi
  written=0
}

# --- host settings -----------------------------------------------------------------
host_settings() {
  # Pods route through the bridge; Service traffic crosses iptables on it.
  echo 1 >/proc/sys/net/ipv4/ip_forward
  if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
    echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
  else
    log "warning: br_netfilter is not loaded; Service IPs may not work between pods"
  fi
}

# --- containerd ---------------------------------------------------------------------
start_containerd() {
  mkdir -p "$state/containerd/root" "$state/containerd/state" "$state/cni/ipam"
  write "$conf/containerd.toml" <<TOML
# Written by scripts/cluster/up.sh.
version = 2
root = "$state/containerd/root"
state = "$state/containerd/state"
# Leave containerd's own oom_score_adj alone: nothing here may lower it.
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "$sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "$state/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$MLOPS_STACK_IMAGE_PAUSE"
  # Pods ask for negative scores (guaranteed QoS, sandboxes); clamp them.
  restrict_oom_score_adj = true
  # Pod network namespaces under our state dir, not /var/run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
    max_conf_num = 1
TOML
  write "$state/cni/net.d/10-mlops-stack.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "mlops-stack",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "mlops0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$state/cni/ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  restart_if_changed containerd
  # The build of scripts/build-tools.sh (versions.env says why not Debian's);
  # its runc shim is found first on PATH.
  start containerd "$tools_bin/containerd" --config "$conf/containerd.toml"
  wait_for containerd 60 "$logs/containerd.log" ctr -a "$sock" version
}

# --- control plane --------------------------------------------------------------------
start_etcd() {
  mkdir -p "$state/etcd"
  chmod 0700 "$state/etcd"
  # Plain HTTP on loopback only: a single-member test store.
  start etcd "$tools_bin/etcd" --name "$node_name" --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "$node_name=http://127.0.0.1:$((ETCD_PORT + 1))" \
    --listen-metrics-urls "" --quota-backend-bytes 2147483648 --log-level warn
  wait_for etcd 60 "$logs/etcd.log" curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  start kube-apiserver "$tools_bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --advertise-address "$node_ip" --bind-address 0.0.0.0 --secure-port "$APISERVER_PORT" \
    --allow-privileged=true \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --client-ca-file "$pki/ca.crt" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" \
    --requestheader-client-ca-file "$pki/ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User \
    --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$pki/front-proxy-client.crt" \
    --proxy-client-key-file "$pki/front-proxy-client.key" \
    --profiling=false --v=1
  wait_for kube-apiserver 120 "$logs/kube-apiserver.log" \
    curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT/readyz"
}

start_controllers() {
  start kube-controller-manager "$tools_bin/kube-controller-manager" \
    --kubeconfig "$conf/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$conf/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$conf/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --cluster-name mlops-stack \
    --cluster-signing-cert-file "$pki/ca.crt" --cluster-signing-key-file "$pki/ca.key" \
    --root-ca-file "$pki/ca.crt" \
    --service-account-private-key-file "$pki/sa.key" \
    --use-service-account-credentials=true \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --profiling=false --v=1
  start kube-scheduler "$tools_bin/kube-scheduler" \
    --kubeconfig "$conf/scheduler.kubeconfig" \
    --authentication-kubeconfig "$conf/scheduler.kubeconfig" \
    --authorization-kubeconfig "$conf/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
}

# --- node -------------------------------------------------------------------------------
start_kubelet() {
  mkdir -p "$state/kubelet" "$state/pod-logs"
  write "$conf/kubelet.yaml" <<YAML
# Written by scripts/cluster/up.sh.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $pki/ca.crt
authorization:
  mode: Webhook
tlsCertFile: $pki/kubelet-server.crt
tlsPrivateKeyFile: $pki/kubelet-server.key
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [$CLUSTER_DNS_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: /etc/resolv.conf
# No CAP_SYS_RESOURCE here: never ask for a negative oom_score_adj.
oomScoreAdj: 0
# Images are imported locally and can never be pulled again: no image GC.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 87600h
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
maxPods: 110
containerLogMaxSize: 10Mi
containerLogMaxFiles: 2
podLogsDir: $state/pod-logs
YAML
  restart_if_changed kubelet
  start kubelet "$tools_bin/kubelet" --config "$conf/kubelet.yaml" \
    --kubeconfig "$conf/kubelet.kubeconfig" --root-dir "$state/kubelet" \
    --hostname-override "$node_name" --node-ip "$node_ip" --v=1
  wait_for kubelet 90 "$logs/kubelet.log" curl -fsS http://127.0.0.1:10248/healthz
}

start_kube_proxy() {
  write "$conf/kube-proxy.yaml" <<YAML
# Written by scripts/cluster/up.sh.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $conf/kube-proxy.kubeconfig
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $node_name
oomScoreAdj: 0
# Leave the host's conntrack settings alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
nodePortAddresses: [primary]
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
YAML
  restart_if_changed kube-proxy
  start kube-proxy "$tools_bin/kube-proxy" --config "$conf/kube-proxy.yaml" --v=1
  wait_for kube-proxy 60 "$logs/kube-proxy.log" curl -fsS http://127.0.0.1:10256/healthz
}

# --- cluster add-ons ---------------------------------------------------------------------
apply_addons() {
  kubectl_admin apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
spec:
  clusterIP: $CLUSTER_DNS_IP
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
---
# CoreDNS runs on the host, on the node IP: this slice points the Service there.
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-host
  namespace: kube-system
  labels:
    kubernetes.io/service-name: kube-dns
    endpointslice.kubernetes.io/managed-by: mlops-stack
addressType: IPv4
endpoints:
- addresses: ["$node_ip"]
  conditions: {ready: true}
  nodeName: $node_name
ports:
- {name: dns, port: 53, protocol: UDP}
- {name: dns-tcp, port: 53, protocol: TCP}
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: mlops-stack.local/hostpath
reclaimPolicy: Delete
volumeBindingMode: Immediate
YAML
}

start_coredns() {
  write "$conf/Corefile" <<COREFILE
.:53 {
    bind $node_ip
    errors
    ready 127.0.0.1:18181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $admin_kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
    loop
}
COREFILE
  restart_if_changed coredns
  start coredns "$tools_bin/coredns" -conf "$conf/Corefile"
  wait_for coredns 60 "$logs/coredns.log" curl -fsS http://127.0.0.1:18181/ready
}

start_provisioner() {
  start provisioner python3 "$cluster_here/provisioner.py" --kubeconfig "$admin_kubeconfig" \
    --base-dir "$state/volumes" --provisioner mlops-stack.local/hostpath
}

# --- NetworkPolicies -----------------------------------------------------------------------
# kube-router's policy controller alone: the bridge CNI plugin wires the pods
# and kube-proxy serves Services, so its router and service proxy stay off. It
# finds this node by name (its InternalIP and local addresses are the node's
# own traffic, which policies never filter: probes, port-forwards) and watches
# pods, namespaces and policies with the admin kubeconfig, as the other
# add-ons do. Its chains hang off INPUT, FORWARD and OUTPUT of the filter table;
# pod traffic crosses them on the bridge (bridge-nf-call-iptables).
kube_router_ready() { iptables -w 5 -n -L KUBE-ROUTER-FORWARD; }
start_network_policy() {
  if [ "$NETWORK_POLICY" != kube-router ]; then
    if running kube-router; then
      stop kube-router
      remove_kube_router_rules
    fi
    return 0
  fi
  start kube-router "$tools_bin/kube-router" --kubeconfig "$admin_kubeconfig" \
    --hostname-override "$node_name" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --health-port "$KUBE_ROUTER_HEALTH_PORT" --metrics-port 0 --v=1
  wait_for kube-router 60 "$logs/kube-router.log" kube_router_ready
}

node_ready() {
  kubectl_admin get node "$node_name" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}

default_sa() { kubectl_admin -n default get serviceaccount default; }

# --- main ---------------------------------------------------------------------------------
make_pki
kubeconfig admin admin
kubeconfig controller-manager controller-manager
kubeconfig scheduler scheduler
kubeconfig kube-proxy kube-proxy
kubeconfig kubelet kubelet
host_settings
start_containerd
"$repo/scripts/cluster/images.sh" import "$sock"
start_etcd
start_apiserver
start_controllers
start_kubelet
start_kube_proxy
apply_addons
start_coredns
start_provisioner
wait_for "node $node_name Ready" 120 "$logs/kubelet.log" node_ready
# Once the Node object (with its InternalIP) exists, which kube-router reads at start.
start_network_policy
wait_for "default service account" 60 "$logs/kube-controller-manager.log" default_sa
install -m 0600 "$admin_kubeconfig" "$out_dir/kubeconfig"
log "cluster ready in $((SECONDS - started_at))s: Kubernetes $kube_version on node $node_name ($node_ip)"
echo "KUBECONFIG=$out_dir/kubeconfig"
