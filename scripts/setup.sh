#!/usr/bin/env bash
# Installs everything the project needs, idempotently, into project-local
# places: Debian packages (apt-get), a Python virtualenv with pinned packages,
# the Go-built tools (helm, minio, mc; with --cluster also Kubernetes, etcd,
# CoreDNS and kube-router) and the collection symlink Ansible finds it through.
#
# The virtualenv and the built binaries live in $MLOPS_STACK_CACHE keyed by
# what they were built from, so a second setup only checks and links.
#
# usage: scripts/setup.sh [--cluster]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${MLOPS_STACK_CACHE:-/var/cache/mlops-stack}
python=${MLOPS_STACK_PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3

log() { printf '[setup] %s\n' "$*" >&2; }

with_cluster=0
[ "${1:-}" = "--cluster" ] && with_cluster=1

apt_packages=(postgresql postgresql-contrib shellcheck git make)
# The local test cluster (scripts/cluster, docs/local-cluster.md): containerd and
# runc run the pods, CNI plugins wire them, podman/debootstrap/catatonit build
# the images, the rest is what kubelet, kube-proxy, kube-router (ipset) and the
# scripts call; the browser e2e tests drive Debian's chromium (Playwright
# cannot download one here).
cluster_packages=(containerd runc containernetworking-plugins podman catatonit
  debootstrap conntrack iptables ipset socat iproute2 ethtool openssl curl util-linux
  chromium fonts-liberation)
[ "$with_cluster" = 1 ] && apt_packages+=("${cluster_packages[@]}")

install_apt_packages() {
  local missing=() pkg
  for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" = 0 ] && return
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_virtualenv() {
  local requirements="$repo/requirements/python.txt"
  local key
  key=$( (cat "$requirements"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)
  local venv="$cache/venv-$key"
  if [ ! -x "$venv/bin/ansible-playbook" ] || [ ! -f "$venv/.complete" ]; then
    log "creating virtualenv $venv (pinned in requirements/python.txt)"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$requirements"
    touch "$venv/.complete"
  fi
  mkdir -p "$repo/.tools"
  ln -sfn "$venv" "$repo/.tools/venv"
}

link_collection() {
  # Ansible finds collections as ansible_collections/<namespace>/<name>.
  local dir="$repo/.tools/collections/ansible_collections/mlops"
  mkdir -p "$dir"
  ln -sfn "$repo" "$dir/stack"
}

mkdir -p "$cache"
install_apt_packages
install_virtualenv
if [ "$with_cluster" = 1 ]; then
  "$here/build-tools.sh" all
else
  "$here/build-tools.sh" base
fi
link_collection
log "ready: activate with . .tools/venv/bin/activate, or use the make targets"
