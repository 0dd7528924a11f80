#!/usr/bin/env bash
# Builds the container images the charts and the local test cluster run, from
# images/<name>/Containerfile on a Debian base made with debootstrap, with
# podman (runc runtime). Each image is saved as a tarball in
# $MLOPS_STACK_CACHE/images named by a hash of everything it is built from, so
# a warm run builds nothing. The ee image (the execution environment the backup
# CronJob runs) holds the collection itself, so its hash covers the content of
# the collection tarball; when only the collection changed, podman's layer
# cache keeps the heavy pip layer and the rebuild takes seconds. Writes the tags to .tools/cluster/images.env and
# .tools/cluster/images.yml.
#
# usage: scripts/cluster/images.sh [build]          build (or reuse) the images
#        scripts/cluster/images.sh import SOCKET    also import them into the
#                                                   containerd at SOCKET (k8s.io)
set -euo pipefail
log_tag=images
# shellcheck source=scripts/cluster/lib.sh
. "$(dirname "$0")/lib.sh"

image_cache="$cache/images"
base_tag="localhost/mlops-stack/debian-base:$DEBIAN_SUITE"
names=(pause postgresql minio mlflow ee)
mkdir -p "$image_cache" "$out_dir"
lock "$image_cache/.lock"

podman() { command podman --runtime runc "$@"; }

# The collection as `ansible-galaxy collection build` packs it (its build_ignore
# applies), built once a run into a directory removed on exit.
collection_dir=$(mktemp -d)
trap 'rm -rf "$collection_dir"' EXIT
build_collection() {
  local galaxy=$repo/.tools/venv/bin/ansible-galaxy
  [ -x "$galaxy" ] || galaxy=$(command -v ansible-galaxy) || die "ansible-galaxy is missing: run make setup first"
  "$galaxy" collection build --output-path "$collection_dir" "$repo" >/dev/null \
    || die "ansible-galaxy collection build failed"
  collection_tar=$(ls "$collection_dir"/mlops-stack-*.tar.gz)
  # The tarball's bytes change with every build (member timestamps); its
  # MANIFEST.json does not: it holds the sha256 of FILES.json, which holds the
  # sha256 of every file.
  collection_digest=$(tar -xzOf "$collection_tar" MANIFEST.json | sha256sum | cut -c1-16)
}
collection_version() { sed -n 's/^version: *//p' "$repo/galaxy.yml" | tr -d "\"' " | head -n1; }

# Debian's podman needs this on these machines: its default nofile ulimit is
# above the hard limit, which nothing here may raise.
configure_podman() {
  local conf=/etc/containers/containers.conf
  if ! grep -qs '^default_ulimits *= *\[\]' "$conf"; then
    log "writing default_ulimits = [] to $conf"
    mkdir -p /etc/containers
    if grep -qs '^\[containers\]' "$conf"; then
      sed -i 's/^\[containers\]/[containers]\ndefault_ulimits = []/' "$conf"
    else
      printf '[containers]\ndefault_ulimits = []\n' >>"$conf"
    fi
  fi
}

# The base rootfs tarball, cached by suite, variant and mirror.
base_tar() {
  local key
  key=$(printf '%s %s minbase' "$DEBIAN_SUITE" "$DEBIAN_MIRROR" | sha256sum | cut -c1-12)
  printf '%s/rootfs/debian-%s-minbase-%s.tar\n' "$cache" "$DEBIAN_SUITE" "$key"
}

ensure_base() {
  local tar
  tar=$(base_tar)
  if [ ! -s "$tar" ]; then
    log "debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR (cold: about a minute)"
    local dir
    dir=$(mktemp -d "$cache/rootfs-build.XXXXXX")
    mkdir -p "$(dirname "$tar")"
    debootstrap --variant=minbase "$DEBIAN_SUITE" "$dir/root" "$DEBIAN_MIRROR" >"$dir/debootstrap.log" 2>&1 \
      || { tail -20 "$dir/debootstrap.log" >&2; die "debootstrap failed (log: $dir/debootstrap.log)"; }
    # Smaller image: no apt lists or caches.
    rm -rf "$dir/root/var/lib/apt/lists/"* "$dir/root/var/cache/apt/"*.bin "$dir/root/var/cache/apt/archives/"*.deb
    tar --numeric-owner -C "$dir/root" -cf "$tar.tmp" .
    mv "$tar.tmp" "$tar"
    rm -rf "$dir"
  fi
  # The image is tagged with the tarball it came from, so a changed tarball
  # (or a podman store reset) re-imports it.
  local want have
  want=$(basename "$tar" .tar)
  have=$(podman image inspect --format '{{index .Config.Labels "mlops-stack.rootfs"}}' "$base_tag" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    log "importing $tar as $base_tag"
    podman import -q --change "LABEL mlops-stack.rootfs=$want" --change 'CMD ["/bin/bash"]' \
      "$tar" "$base_tag" >/dev/null
  fi
}

# image_version NAME: the version part of the tag.
image_version() {
  case $1 in
    pause) dpkg-query -W -f='${Version}' catatonit | sed 's/-.*//' ;;
    postgresql) echo 15 ;;
    minio) echo "$MINIO_VERSION" ;;
    mlflow) mlflow_version ;;
    ee) collection_version ;;
  esac
}

pin() { # pin PACKAGE DEFAULT: a version from requirements/python.txt, else DEFAULT
  local v=""
  [ -f "$repo/requirements/python.txt" ] \
    && v=$(sed -n "s/^$1==\\([^ ;#]*\\).*/\\1/p" "$repo/requirements/python.txt" | head -n1)
  printf '%s\n' "${v:-$2}"
}

# build_args NAME: --build-arg flags, one a line.
build_args() {
  printf -- '--build-arg=BASE_IMAGE=%s\n' "$base_tag"
  case $1 in
    mlflow)
      printf -- '--build-arg=MLFLOW_VERSION=%s\n' "$(mlflow_version)"
      ;;
    ee)
      printf -- '--build-arg=ANSIBLE_VERSION=%s\n' "$(pin ansible 12.3.0)"
      printf -- '--build-arg=ANSIBLE_CORE_VERSION=%s\n' "$(pin ansible-core 2.19.14)"
      printf -- '--build-arg=KUBERNETES_VERSION=%s\n' "$(pin kubernetes 36.0.3)"
      printf -- '--build-arg=BOTO3_VERSION=%s\n' "$(pin boto3 1.44.8)"
      printf -- '--build-arg=PSYCOPG_VERSION=%s\n' "$(pin psycopg 3.3.9)"
      printf -- '--build-arg=MINIO_SDK_VERSION=%s\n' "$(pin minio 7.2.20)"
      ;;
  esac
}

# extra_files NAME: host files copied into the build context.
extra_files() {
  case $1 in
    pause) echo /usr/bin/catatonit ;;
    minio) echo "$cache/bin/minio-$MINIO_VERSION"; echo "$cache/bin/mc-$MC_VERSION" ;;
  esac
}

# image_hash NAME: what the image is built from, hashed.
image_hash() {
  local name=$1 f
  {
    echo "$name $(image_version "$name")"
    build_args "$name"
    basename "$(base_tar)"
    (cd "$repo/images/$name" && find . -type f | LC_ALL=C sort | xargs sha256sum)
    for f in $(extra_files "$name"); do
      # Binaries are keyed by their versioned cache name and size, not content.
      echo "$f $(stat -c %s "$f")"
    done
    [ "$name" != ee ] || echo "collection $collection_digest"
  } | sha256sum | cut -c1-16
}

image_tar() { printf '%s/%s-%s-%s.tar\n' "$image_cache" "$1" "$(image_version "$1")" "$(image_hash "$1")"; }
image_tag() { printf 'localhost/mlops-stack/%s:%s\n' "$1" "$(image_version "$1")"; }

build_image() {
  local name=$1 tar tag
  tar=$(image_tar "$name")
  tag=$(image_tag "$name")
  [ -s "$tar" ] && return 0
  ensure_base
  log "building $tag"
  local ctx f args=()
  ctx=$(mktemp -d)
  cp -a "$repo/images/$name/." "$ctx/"
  for f in $(extra_files "$name"); do
    [ -x "$f" ] || die "$f is missing: run scripts/build-tools.sh first"
    cp "$f" "$ctx/$(basename "$f" | sed 's/-v[0-9].*//')"
  done
  [ "$name" != ee ] || cp "$collection_tar" "$ctx/"
  mapfile -t args < <(build_args "$name")
  podman build --pull=never --layers -q "${args[@]}" \
    -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro \
    -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
  rm -f "$image_cache/$name-"*.tar  # older builds of this image
  podman save -q --format docker-archive -o "$tar.tmp" "$tag" >/dev/null
  mv "$tar.tmp" "$tar"
}

write_tags() {
  local name upper env="" yml="---"$'\n'"# Written by scripts/cluster/images.sh: the images the local cluster holds."$'\n'
  yml+="mlops_stack_images:"$'\n'
  for name in "${names[@]}"; do
    upper=$(echo "$name" | tr '[:lower:]' '[:upper:]')
    env+="MLOPS_STACK_IMAGE_${upper}=$(image_tag "$name")"$'\n'
    yml+="  $name:"$'\n'"    repository: localhost/mlops-stack/$name"$'\n'"    tag: \"$(image_version "$name")\""$'\n'
  done
  printf '%s' "$env" >"$out_dir/images.env"
  printf '%s' "$yml" >"$out_dir/images.yml"
}

# import_images SOCKET: loads each image into containerd's k8s.io namespace
# unless the same tarball was imported before.
import_images() {
  local sock=$1 name tar tag marker_dir="$state/images"
  mkdir -p "$marker_dir"
  for name in "${names[@]}"; do
    tar=$(image_tar "$name")
    tag=$(image_tag "$name")
    if [ "$(cat "$marker_dir/$name" 2>/dev/null)" = "$(basename "$tar")" ] \
      && ctr -a "$sock" -n k8s.io images ls -q "name==$tag" | grep -q .; then
      continue
    fi
    log "importing $tag into containerd"
    ctr -a "$sock" -n k8s.io images import --all-platforms "$tar" >/dev/null
    basename "$tar" >"$marker_dir/$name"
  done
}

configure_podman
build_collection
for name in "${names[@]}"; do build_image "$name"; done
write_tags
case "${1:-build}" in
  build) ;;
  import) import_images "${2:?usage: $0 import SOCKET}" ;;
  *) die "usage: $0 [build|import SOCKET]" ;;
esac
log "images ready: $out_dir/images.env"
