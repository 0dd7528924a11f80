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

log() { printf '[%s] %s\n' "${log_tag:-cluster}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The mlflow version baked into the image: the project's pin when it has one.
mlflow_version() {
  local v=""
  if [ -f "$repo/requirements/python.txt" ]; then
    v=$(sed -n 's/^mlflow\(\[[^]]*\]\)\{0,1\}==\([^ ;#]*\).*/\2/p' "$repo/requirements/python.txt" | head -n1)
  fi
  printf '%s\n' "${MLFLOW_VERSION:-${v:-3.6.0}}"
}
