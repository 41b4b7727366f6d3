#!/usr/bin/env bash
# Quick start: installs Debian's nats-server when missing, builds ParWatch (release; the first
# build takes a while on 2 cores) and runs everything on this machine with demo data:
# a private nats-server, the ingest worker and the HTTP server on http://127.0.0.1:8080.
# Extra arguments go to `parwatch up` (e.g. --http 0.0.0.0:8080, --data-dir /var/lib/parwatch).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "installing Debian's nats-server"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq nats-server
  else sudo apt-get update -qq && sudo apt-get install -y -qq nats-server; fi
fi
exec cargo run --release -p parwatch -- up --demo "$@"
