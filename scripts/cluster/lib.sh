# shellcheck shell=bash disable=SC2034
# Shared settings of the local test cluster scripts (sourced, not run).
# Everything the cluster writes lives in $state; everything worth keeping
# between clusters (base rootfs, image tarballs) in $cache, keyed by content.

cluster_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$cluster_here/../.." && pwd)
# shellcheck source=scripts/versions.env
. "$repo/scripts/versions.env"

cache=${MLOPS_STACK_CACHE:-/var/cache/mlops-stack}
state=${MLOPS_STACK_CLUSTER_DIR:-/var/lib/mlops-stack-cluster}
tools_bin="$repo/.tools/bin"
# What other parts of the project read: the kubeconfig and the image tags.
out_dir="$repo/.tools/cluster"
export PATH="$tools_bin:$PATH"

# Debian suite and mirror of the base image (the mirror apt uses here).
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Networks: pods on the CNI bridge, Services, the cluster DNS Service IP.
POD_CIDR=10.244.0.0/16
NODE_POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/12
KUBERNETES_SERVICE_IP=10.96.0.1
CLUSTER_DNS_IP=10.96.0.10
CLUSTER_DOMAIN=cluster.local
APISERVER_PORT=${MLOPS_STACK_APISERVER_PORT:-6443}
ETCD_PORT=${MLOPS_STACK_ETCD_PORT:-2379}

# NetworkPolicy enforcement: "kube-router" (its policy controller alone, on
# iptables and ipset), or "none" to leave NetworkPolicies unenforced.
NETWORK_POLICY=${MLOPS_STACK_NETWORK_POLICY:-kube-router}
KUBE_ROUTER_HEALTH_PORT=20244

log() { printf '[%s %ss] %s\n' "${log_tag:-cluster}" "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The mlflow version baked into the image: the project's pin when it has one.
mlflow_version() {
  local v=""
  if [ -f "$repo/requirements/python.txt" ]; then
    v=$(sed -n 's/^mlflow\(\[[^]]*\]\)\{0,1\}==\([^ ;#]*\).*/\2/p' "$repo/requirements/python.txt" | head -n1)
  fi
  printf '%s\n' "${MLFLOW_VERSION:-${v:-3.17.2}}"
}

# lock FILE: serialises runs of these scripts (several developers may run
# make cluster at once). The lock is fd 9: close it (9>&-) in anything that
# outlives the script.
lock() {
  # A script run by one that holds the lock (up.sh resetting stale state).
  [ "${MLOPS_STACK_CLUSTER_LOCK_HELD:-}" = "$1" ] && return 0
  exec 9>"$1"
  if ! flock -n 9; then
    log "waiting for another run to finish (lock $1)"
    flock -w 1800 9 || die "timed out waiting for $1"
  fi
}

# Processes started by up.sh: $state/run/NAME.pid and NAME.exe (the binary,
# checked against /proc/PID/cmdline so a reused PID is never taken for ours).
pid_of() {
  local pid
  pid=$(cat "$state/run/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
    && grep -qa -- "$(cat "$state/run/$1.exe" 2>/dev/null || echo none)" "/proc/$pid/cmdline" 2>/dev/null \
    && echo "$pid"
}

# drop_chains IPT TABLE RULES CHAINS: removes the chains named in CHAINS
# (space-separated) from TABLE, whose "IPT-save -t TABLE" output is RULES: the
# jumps into them from chains that stay, then their rules, then the chains
# themselves, in one IPT-restore.
drop_chains() {
  local ipt=$1 table=$2 rules=$3 chains alt rule from c names
  read -ra names <<<"$4"
  [ "${#names[@]}" -gt 0 ] || return 0
  chains="${names[*]} "
  alt=${chains% }
  {
    echo "*$table"
    while read -r rule; do
      from=${rule#-A }
      from=${from%% *}
      case " $chains" in *" $from "*) continue ;; esac
      echo "-D ${rule#-A }"
    done < <(grep -E -- "^-A .* -j (${alt// /|})( |\$)" <<<"$rules" || true)
    for c in $chains; do echo "-F $c"; done
    for c in $chains; do echo "-X $c"; done
    echo COMMIT
  } | "$ipt-restore" --noflush
}

# remove_kube_router_rules: what kube-router's policy controller leaves behind
# when stopped (it keeps enforcing the last policies it saw): its filter chains
# (KUBE-ROUTER-*, the per-pod KUBE-POD-FW-* and per-policy KUBE-NWPLCY-*), then
# its ipsets (KUBE-SRC-*, KUBE-DST-*), which only an unreferenced set allows.
remove_kube_router_rules() {
  local rules chains set
  if command -v iptables-save >/dev/null && rules=$(iptables-save -t filter 2>/dev/null); then
    chains=$(sed -n 's/^:\(KUBE-\(ROUTER\|POD-FW\|NWPLCY\)-[^ ]*\) .*/\1/p' <<<"$rules" | tr '\n' ' ')
    drop_chains iptables filter "$rules" "$chains" 2>/dev/null || log "warning: could not remove kube-router's iptables chains"
  fi
  command -v ipset >/dev/null || return 0
  for set in $(ipset list -n 2>/dev/null | grep -E '^KUBE-(SRC|DST)-' || true); do
    ipset destroy "$set" 2>/dev/null || log "warning: could not destroy ipset $set"
  done
}

# stop NAME: SIGTERM, then SIGKILL after 15 s, to the PID recorded for NAME.
stop() {
  local pid
  pid=$(pid_of "$1") || { rm -f "$state/run/$1.pid"; return 0; }
  log "stopping $1 (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$state/run/$1.pid"
}
