#!/usr/bin/env bash
# Stops the local cluster that deploy/cluster/up.sh started in DIR (default ./cluster): the
# ParWatch processes first (workers flush and acknowledge on SIGTERM), then haproxy, NATS and
# SeaweedFS. Data stays in DIR: up.sh DIR starts the same cluster again; rm -r DIR forgets it.
set -euo pipefail

dir="${1:-cluster}"
[ -d "$dir/run" ] || { echo "down.sh: no cluster in $dir" >&2; exit 1; }

stop() { # name...: SIGTERM, up to 20 s, then SIGKILL, for each (in parallel)
  local name pid pids=()
  for name in "$@"; do
    pid="$(cat "$dir/run/$name.pid" 2>/dev/null)" || continue
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$dir/run/$name.pid"
  done
  for _ in $(seq 100); do
    local alive=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ ${#alive[@]} -eq 0 ] && return
    pids=("${alive[@]}")
    sleep 0.2
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

stop api-1 api-2 ingest-1 ingest-2
stop haproxy
stop nats-1 nats-2 nats-3
stop weed-1 weed-2 weed-3
# SeaweedFS opens a gRPC Unix socket in /tmp per gRPC port (/tmp/seaweedfs-<what>-grpc-<port>.sock,
# not configurable) and leaves it behind.
base="$(sed -n 's/^PARWATCH_CLUSTER_PORT_BASE=//p' "$dir/cluster.env" 2>/dev/null)"
if [ -n "$base" ]; then
  for port in $(seq $((base + 20)) $((base + 49))); do
    rm -f /tmp/seaweedfs-*-grpc-"$port".sock
  done
fi
echo "cluster in $dir stopped (data kept)"
