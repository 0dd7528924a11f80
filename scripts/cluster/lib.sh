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
