#!/bin/sh
# Starts "kubectl port-forward" to a Service in the background, waits until it
# listens on a free loopback port and prints "<pid> <port>". The caller stops
# it by that PID (kill), always, when it is done.
# Usage: port-forward.sh <kubectl> <namespace> <service> <service port> [kubectl global args...]
set -eu
kubectl=$1 namespace=$2 service=$3 port=$4
shift 4
log=$(mktemp)
trap 'rm -f "$log"' EXIT
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
