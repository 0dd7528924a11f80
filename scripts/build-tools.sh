#!/usr/bin/env bash
# Builds the Go tools the project needs (helm, minio, mc and, with "cluster",
# the Kubernetes components, etcd, CoreDNS, kube-router and containerd) from the Go module proxy at the
# versions pinned in versions.env. Each binary is cached by name and version in
# $MLOPS_STACK_CACHE/bin, outside the repository, so a warm run only links them
# into the project's .tools/bin.
#
# usage: scripts/build-tools.sh [base|cluster|all]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
# shellcheck source=scripts/versions.env
. "$here/versions.env"

cache=${MLOPS_STACK_CACHE:-/var/cache/mlops-stack}
bin_cache="$cache/bin"
tools_bin="$repo/.tools/bin"
mkdir -p "$bin_cache" "$tools_bin"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
# A private GOPATH keeps the build from touching the user's module cache layout.
export GOPATH="$cache/gopath" GOBIN=""

log() { printf '[build-tools] %s\n' "$*" >&2; }

# cached NAME VERSION: true when the binary is already built.
cached() { [ -x "$bin_cache/$1-$2" ]; }

link() { ln -sfn "$bin_cache/$1-$2" "$tools_bin/$1"; }

# go_install NAME VERSION PACKAGE@VERSION [LDFLAGS]
go_install() {
  local name=$1 version=$2 pkg=$3 ldflags=${4:-}
  if ! cached "$name" "$version"; then
    log "building $name $version (cold build, this takes a while)"
    local out
    out=$(mktemp -d)
    GOBIN="$out" go install -trimpath -ldflags "-s -w $ldflags" "$pkg"
    mv "$out/$(basename "${pkg%@*}")" "$bin_cache/$name-$version"
    rm -rf "$out"
  fi
  link "$name" "$version"
}

build_base() {
  local helm_minor=${HELM_KUBE_MINOR:-34}
  # Plain go install leaves Helm's idea of the cluster version at an old default.
  go_install helm "$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
     -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
     -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$helm_minor \
     -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
     -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$helm_minor"
  go_install minio "$MINIO_VERSION" "github.com/minio/minio@$MINIO_VERSION"
  go_install mc "$MC_VERSION" "github.com/minio/mc@$MC_VERSION"
}

# module_build DIR GO_MOD LDFLAGS VERSION PACKAGES... : builds packages from a
# throwaway module of our own, for projects whose go.mod has replace lines that
# "go install pkg@version" refuses. Packages outside the module are fetched at
# VERSION: a bare "go get pkg" would upgrade their module to its latest release
# (it did: Kubernetes v1.37 instead of the pinned v1.34).
module_build() {
  local dir=$1 gomod=$2 ldflags=$3 version=$4 p
  shift 4
  local gets=()
  for p; do
    case $p in ./*) gets+=("$p") ;; *) gets+=("$p@$version") ;; esac
  done
  mkdir -p "$dir/out"
  printf '%s\n' "$gomod" >"$dir/go.mod"
  (cd "$dir" && go get "${gets[@]}" && go build -trimpath -ldflags "-s -w $ldflags" -o "$dir/out/" "$@")
}

build_kubernetes() {
  local v=$KUBERNETES_VERSION components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
  local missing=0 c
  for c in "${components[@]}"; do cached "$c" "$v" || missing=1; done
  if [ "$missing" = 1 ]; then
    log "building Kubernetes $v (cold build: tens of minutes on 2 cores)"
    local dir="$cache/build/kubernetes-$v" staging_v="v0${v#v1}"
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
    # with ./staging: replace each with its published v0.x.y instead, taking
    # the list from that release's own go.mod.
    local kmod staging
    kmod=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
    staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$kmod")
    [ -n "$staging" ] || { log "no staging modules found in $kmod"; exit 1; }
    local gomod="module localbuild/kubernetes
go 1.24
require k8s.io/kubernetes $v" s
    for s in $staging; do gomod+=$'\n'"replace $s => $s $staging_v"; done
    local minor=${v#v1.}; minor=${minor%%.*}
    local ld="" p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=2000-01-01T00:00:00Z"
    done
    local pkgs=()
    for c in "${components[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    module_build "$dir" "$gomod" "$ld" "$v" "${pkgs[@]}"
    for c in "${components[@]}"; do mv "$dir/out/$c" "$bin_cache/$c-$v"; done
    rm -rf "$dir"
  fi
  for c in "${components[@]}"; do link "$c" "$v"; done
}

build_etcd() {
  local v=$ETCD_VERSION
  if ! cached etcd "$v"; then
    log "building etcd $v"
    local dir="$cache/build/etcd-$v"
    mkdir -p "$dir/cmd/etcd"
    # etcd's own main package sits in a module full of replace lines; its
    # entry point etcdmain.Main is importable from the server module.
    printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' \
      >"$dir/cmd/etcd/main.go"
    module_build "$dir" "module localbuild/etcd
go 1.24
require go.etcd.io/etcd/server/v3 $v" "" "$v" ./cmd/etcd
    mv "$dir/out/etcd" "$bin_cache/etcd-$v"
    rm -rf "$dir"
  fi
  link etcd "$v"
}

build_coredns() {
  go_install coredns "$COREDNS_VERSION" "github.com/coredns/coredns@$COREDNS_VERSION"
}

# kube-router: the local cluster runs only its NetworkPolicy controller.
build_kube_router() {
  local v=$KUBE_ROUTER_VERSION m=github.com/cloudnativelabs/kube-router/v2
  go_install kube-router "$v" "$m/cmd/kube-router@$v" \
    "-X $m/pkg/version.Version=$v -X $m/pkg/version.BuildDate=2000-01-01T00:00:00Z"
}

# containerd and its runc shim, without the snapshotters the cluster disables
# (up.sh's containerd.toml), so no cgo is needed.
build_containerd() {
  local v=$CONTAINERD_VERSION m=github.com/containerd/containerd
  if ! cached containerd "$v" || ! cached containerd-shim-runc-v2 "$v"; then
    log "building containerd $v (cold build: minutes on 2 cores)"
    local dir="$cache/build/containerd-$v"
    module_build "$dir" "module localbuild/containerd
go 1.23
require $m $v" "-X $m/version.Version=$v" "$v" "$m/cmd/containerd" "$m/cmd/containerd-shim-runc-v2"
    mv "$dir/out/containerd" "$bin_cache/containerd-$v"
    mv "$dir/out/containerd-shim-runc-v2" "$bin_cache/containerd-shim-runc-v2-$v"
    rm -rf "$dir"
  fi
  link containerd "$v"
  link containerd-shim-runc-v2 "$v"
}

case "${1:-base}" in
  base) build_base ;;
  cluster) build_kubernetes; build_etcd; build_coredns; build_kube_router; build_containerd ;;
  all) build_base; build_kubernetes; build_etcd; build_coredns; build_kube_router; build_containerd ;;
  *) echo "usage: $0 [base|cluster|all]" >&2; exit 2 ;;
esac
log "tools ready in $tools_bin"
