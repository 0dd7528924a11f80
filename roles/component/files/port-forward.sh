#!/bin/sh
# Starts "kubectl port-forward" to a Service in the background, waits until it
# listens on a free loopback port and prints "<pid> <port>". The caller stops
# it by that PID (kill), always, when it is done.
# Usage: port-forward.sh <kubectl> <namespace> <service> <service port> [kubectl global args...]
#
# kubectl reaches the cluster as the collection's modules do
# (plugins/module_utils/k8s.py): the global args (--kubeconfig, --context) when
# given, else K8S_AUTH_HOST with the bearer token K8S_AUTH_API_KEY, else
# K8S_AUTH_KUBECONFIG/K8S_AUTH_CONTEXT, else kubectl's own defaults. kubectl
# reads no K8S_AUTH_* variable, so the token goes into a kubeconfig of its own,
# readable by this user only and removed once kubectl has read it: never into
# an argument, which every user of the host could read.
set -eu
kubectl=$1 namespace=$2 service=$3 port=$4
shift 4
private=$(mktemp -d)
trap 'rm -rf "$private"' EXIT
log=$private/log

fail() {
  echo "$1" >&2
  exit 1
}

# Writes $private/kubeconfig from K8S_AUTH_HOST, K8S_AUTH_API_KEY,
# K8S_AUTH_VERIFY_SSL and K8S_AUTH_SSL_CA_CERT.
token_kubeconfig() {
  host=${K8S_AUTH_HOST:-} token=${K8S_AUTH_API_KEY:-} ca=${K8S_AUTH_SSL_CA_CERT:-}
  [ -n "$token" ] || fail "K8S_AUTH_HOST is set but K8S_AUTH_API_KEY is empty or unset: give the bearer token too, or unset K8S_AUTH_HOST"
  [ -n "$host" ] || fail "K8S_AUTH_API_KEY is set but K8S_AUTH_HOST is empty or unset: give the API server URL too, or unset K8S_AUTH_API_KEY"
  case $host in
    http://* | https://*) ;;
    *) fail "K8S_AUTH_HOST must be the API server's https:// URL, not '$host'" ;;
  esac
  # Both are written into YAML in double quotes: no quote, backslash or blank.
  case $host in
    *[!A-Za-z0-9:/._~%@\[\]-]*) fail "K8S_AUTH_HOST must be the API server's https:// URL, not '$host'" ;;
  esac
  case $token in
    *[!A-Za-z0-9._~+/=-]*) fail "K8S_AUTH_API_KEY is not a bearer token: it holds characters other than letters, digits and ._~+/=-" ;;
  esac
  case $(printf '%s' "${K8S_AUTH_VERIFY_SSL:-true}" | tr '[:upper:]' '[:lower:]') in
    true | yes | on | 1) verify=true ;;
    false | no | off | 0) verify=false ;;
    *) fail "K8S_AUTH_VERIFY_SSL must be true or false, not '${K8S_AUTH_VERIFY_SSL}'" ;;
  esac
  if [ "$verify" = false ]; then
    trust="insecure-skip-tls-verify: true"
  elif [ -n "$ca" ]; then
    if [ ! -f "$ca" ] || [ ! -r "$ca" ]; then
      fail "K8S_AUTH_SSL_CA_CERT names $ca, which is not a readable file"
    fi
    case $ca in
      /*) ;;
      *) ca=$PWD/$ca ;;
    esac
    trust="certificate-authority: \"$ca\""
  else
    trust="insecure-skip-tls-verify: false"
  fi
  (
    umask 077
    cat >"$private/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: k8s-auth
    cluster:
      server: "$host"
      $trust
users:
  - name: k8s-auth
    user:
      token: "$token"
contexts:
  - name: k8s-auth
    context: {cluster: k8s-auth, user: k8s-auth}
current-context: k8s-auth
KUBECONFIG
  )
}

if [ "$#" -eq 0 ]; then
  if [ -n "${K8S_AUTH_HOST:-}" ] || [ -n "${K8S_AUTH_API_KEY:-}" ]; then
    token_kubeconfig
    set -- --kubeconfig "$private/kubeconfig"
  else
    if [ -n "${K8S_AUTH_KUBECONFIG:-}" ]; then
      set -- --kubeconfig "$K8S_AUTH_KUBECONFIG"
    fi
    if [ -n "${K8S_AUTH_CONTEXT:-}" ]; then
      set -- "$@" --context "$K8S_AUTH_CONTEXT"
    fi
  fi
fi

# setsid: the forwarder outlives this script and no signal meant for the
# calling task's process group reaches it.
setsid "$kubectl" "$@" port-forward --address 127.0.0.1 -n "$namespace" "svc/$service" ":$port" \
  >"$log" 2>&1 </dev/null &
pid=$!
tries=0
while [ "$tries" -lt 300 ]; do
  local_port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9][0-9]*\) .*/\1/p' "$log" | head -n 1)
  if [ -n "$local_port" ]; then
    echo "$pid $local_port"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "kubectl port-forward to svc/$service in $namespace exited:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
  tries=$((tries + 1))
done
kill "$pid" 2>/dev/null || true
echo "kubectl port-forward to svc/$service in $namespace did not listen within 30 s:" >&2
cat "$log" >&2
exit 1
