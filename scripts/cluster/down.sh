#!/usr/bin/env bash
# Stops the local test cluster started by up.sh and removes its state: pods
# are stopped through the kubelet and containerd (so CNI tears their network
# down), then every process recorded in $state/run is stopped by its PID, any
# container shim left is killed, mounts under $state are unmounted, kube-proxy's
# and kube-router's iptables rules, kube-router's ipsets and the pod bridge are
# removed, and $state is deleted.
# Cached binaries and images ($MLOPS_STACK_CACHE) stay.
#
# usage: scripts/cluster/down.sh
set -euo pipefail
log_tag=cluster-down
# shellcheck source=scripts/cluster/lib.sh
. "$(dirname "$0")/lib.sh"

run="$state/run"
sock="$run/containerd.sock"
admin_kubeconfig="$state/conf/admin.kubeconfig"

mkdir -p "$(dirname "$state")"
lock "$state.lock"

if [ ! -d "$state" ]; then
  log "no cluster state in $state: nothing to do"
  exit 0
fi

ctr_() { ctr -a "$sock" -n k8s.io "$@"; }

# Nothing may create or schedule pods while they are taken down.
stop provisioner
stop kube-controller-manager
stop kube-scheduler
# Its rules stay (and keep enforcing the last policies) until removed below.
stop kube-router

# Pods: delete them all and let the kubelet stop their sandboxes, which runs
# the CNI DEL that removes their veths, IPs and iptables rules.
if pid_of kube-apiserver >/dev/null && pid_of kubelet >/dev/null && pid_of containerd >/dev/null; then
  log "deleting all pods"
  kubectl --kubeconfig "$admin_kubeconfig" --request-timeout=20s delete pods --all --all-namespaces \
    --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
  for _ in $(seq 1 45); do
    ctr_ tasks ls 2>/dev/null | grep -q ' RUNNING' || break
    sleep 1
  done
fi
stop kubelet

# Whatever still runs (the kubelet was gone or too slow): kill it through containerd.
netns=()
if pid_of containerd >/dev/null; then
  for id in $(ctr_ containers ls -q 2>/dev/null); do
    path=$(ctr_ containers info "$id" 2>/dev/null \
      | python3 -c 'import json,sys
for ns in json.load(sys.stdin).get("Spec",{}).get("linux",{}).get("namespaces",[]):
    if ns.get("type")=="network" and ns.get("path"): print(ns["path"])' 2>/dev/null || true)
    [ -n "$path" ] && netns+=("$path")
    ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  sleep 1
  for id in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true
    ctr_ containers delete "$id" >/dev/null 2>&1 || true
  done
fi
stop coredns
stop kube-proxy
stop kube-apiserver
stop etcd
stop containerd

# Container shims of this containerd that outlived it (matched by its socket).
for p in /proc/[0-9]*; do
  if grep -qa -- "$sock" "$p/cmdline" 2>/dev/null && grep -qa containerd-shim "$p/cmdline" 2>/dev/null; then
    log "killing leftover shim ${p#/proc/}"
    kill -9 "${p#/proc/}" 2>/dev/null || true
  fi
done

log "removing leftover pod processes and cgroups"
# The rest is machine-wide: skip it when some other kubelet or kube-proxy
# still runs (e.g. this was run on another, dead state directory).
others=$( (pgrep -x kubelet; pgrep -x kube-proxy; pgrep -x kube-router) | tr '\n' ' ' || true)
if [ -n "$others" ]; then
  log "warning: a kubelet, kube-proxy or kube-router this run did not stop is running (pids $others):" \
    "leaving cgroups, iptables and the mlops0 bridge alone"
fi

# Pod processes still alive (their shims were killed, or containerd died
# before it could stop them): everything left in the kubepods cgroups.
if [ -z "$others" ]; then
  for _ in 1 2 3 4 5; do
    mapfile -t pids < <(cat /sys/fs/cgroup/*/kubepods/cgroup.procs \
      /sys/fs/cgroup/*/kubepods/*/cgroup.procs /sys/fs/cgroup/*/kubepods/*/*/cgroup.procs \
      /sys/fs/cgroup/*/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -u)
    [ "${#pids[@]}" = 0 ] && break
    log "killing ${#pids[@]} leftover pod processes"
    kill -9 "${pids[@]}" 2>/dev/null || true
    sleep 1
  done
fi

# Pod cgroups the kubelet made (cgroup v1: one tree per controller).
for d in /sys/fs/cgroup/*/kubepods; do
  [ -z "$others" ] || break
  [ -d "$d" ] || continue
  find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
done

# Mounts under the state directory (pod volumes, rootfs, shm), deepest first.
mapfile -t mounts < <(awk -v s="$state" 'index($5, s "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
for n in "${netns[@]}"; do umount -l "$n" 2>/dev/null || true; rm -f "$n"; done

log "removing mounts and networking"
# Network: kube-proxy's rules and the pod bridge.
if [ -z "$others" ] && [ -x "$tools_bin/kube-proxy" ]; then
  "$tools_bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
fi
[ -n "$others" ] || ip link delete mlops0 2>/dev/null || true
# What the kubelet adds (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT)
# and what the CNI plugins added for pods whose teardown never ran (chains
# whose rules carry the comment name: "mlops-stack"): the jumps to those
# chains, then the chains themselves.
for ipt in iptables ip6tables; do
  [ -z "$others" ] || break
  command -v "$ipt-restore" >/dev/null || continue
  for table in filter nat mangle; do
    rules=$("$ipt-save" -t "$table" 2>/dev/null) || continue
    chains=$( (sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p' <<<"$rules"
      { grep -F 'name: \"mlops-stack\"' <<<"$rules" || true; } | sed -n 's/^-A \(CNI-[^ ]*\) .*/\1/p') \
      | sort -u | tr '\n' ' ')
    drop_chains "$ipt" "$table" "$rules" "$chains" 2>/dev/null || log "warning: could not remove $ipt $table KUBE-* chains"
  done
done
# kube-router's chains start with KUBE- too (gone above); its ipsets remain.
[ -n "$others" ] || remove_kube_router_rules

# The project's kubeconfig, when it is this cluster's.
if cmp -s "$out_dir/kubeconfig" "$state/conf/admin.kubeconfig"; then
  rm -f "$out_dir/kubeconfig"
fi
log "removing $state"
rm -rf "$state"
log "cluster removed"
