#!/usr/bin/env bash
# Start a throw-away PostgreSQL 15 server for the audit tests and print the line to eval:
#   eval "$(bash .ci/postgres.sh)"   ->   export OMBUD_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/ombud_test
# Idempotent: when the server in $OMBUD_PG_DIR is already running it only prints the export.
# Everything except the export line goes to stderr. Must run as root (it uses runuser -u postgres).
set -euo pipefail

PORT="${OMBUD_PG_PORT:-55432}"
BASE="${OMBUD_PG_DIR:-/tmp/ombud-pg}"
DB="ombud_test"
DATA="$BASE/data"
LOG="$BASE/server.log"
SOCK="$BASE/sock"

log() { echo "postgres.sh: $*" >&2; }

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing Debian postgresql"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
as_pg() { runuser -u postgres -- "$@"; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    PORT="$(sed -n 4p "$DATA/postmaster.pid")"
    log "already running on port $PORT"
else
    mkdir -p "$BASE" "$SOCK"
    chown postgres:postgres "$BASE" "$SOCK"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >&2
    fi
    while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $SOCK -c max_connections=200" -w start >&2
fi

if ! as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
    as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >&2
fi
echo "export OMBUD_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
