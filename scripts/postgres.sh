#!/usr/bin/env bash
# PostgreSQL test instance for annolog.
#   scripts/postgres.sh start|stop   (normally called by scripts/services.sh)
#
# Listens on 127.0.0.1:$ANNOLOG_PG_PORT only, with its unix socket in a private
# directory; provides role annolog/annolog (LOGIN CREATEDB) owning database
# annolog_test. Durability is switched off (fsync, synchronous_commit,
# full_page_writes): this is a throwaway test instance.
#
# Running as root: initdb and the server refuse to run as root, so both run as
# the `postgres` OS user (created if missing) and the cluster lives in
# $ANNOLOG_SERVICES_DIR/postgres, owned by postgres with mode 700. If that user
# cannot reach the state dir (e.g. a checkout under /root), the cluster goes to
# /tmp/annolog-postgres-<hash of the state dir path> instead. The log file
# is opened by this script and inherited, so it always stays in the state dir.
# Running as any other user: everything runs as that user, in the state dir.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SERVICE=postgres
LOG=$ANNOLOG_SERVICES_DIR/logs/postgres.log
PORT=$ANNOLOG_PG_PORT
TCP_URL="postgresql://annolog:annolog@127.0.0.1:$PORT/annolog_test"

if [[ $EUID -eq 0 ]]; then
    PG_OWNER=postgres
    # cd /: the caller's cwd (often /root) is unreadable for postgres.
    as_owner() { (cd / && runuser -u postgres -- "$@"); }
else
    PG_OWNER=$(id -un)
    as_owner() { "$@"; }
fi

# Newest installed server version; install the Debian package if there is none.
find_pg_bin() {
    if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        apt_install postgresql
    fi
    PG_BIN=$(dirname "$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
}

ensure_owner_user() {
    [[ $EUID -eq 0 ]] || return 0
    id -u postgres >/dev/null 2>&1 ||
        useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
            --shell /bin/bash postgres
}

# Sets PG_ROOT (cluster home), DATA and SOCK_DIR; deterministic so that stop
# finds what start created. The state dir exists here (start creates it, stop
# returns early without it); $PG_ROOT itself is created owned by $PG_OWNER.
locate_cluster() {
    if as_owner test -x "$ANNOLOG_SERVICES_DIR"; then
        PG_ROOT=$ANNOLOG_SERVICES_DIR/postgres
    else
        PG_ROOT=/tmp/annolog-postgres-$(printf '%s' "$ANNOLOG_SERVICES_DIR" | cksum | cut -d' ' -f1)
    fi
    DATA=$PG_ROOT/data
    SOCK_DIR=$PG_ROOT/run
}

postmaster_pid() {
    [[ -f $DATA/postmaster.pid ]] && head -n 1 "$DATA/postmaster.pid" || true
}

is_running() { pid_matches "$(postmaster_pid)" "$DATA"; }

# Ready = accepting connections AND the annolog role can query annolog_test over TCP.
is_ready() {
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2 &&
        PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -w -tA "$TCP_URL" -c 'SELECT 1' >/dev/null 2>&1
}

init_cluster() {
    local group
    group=$(id -gn "$PG_OWNER")
    install -d -m 700 -o "$PG_OWNER" -g "$group" "$PG_ROOT" "$DATA" "$SOCK_DIR"
    [[ -f $DATA/PG_VERSION ]] && return 0
    log "initdb $DATA"
    # Explicit encoding/locale: with LANG unset initdb would pick SQL_ASCII.
    # Local (socket) connections are trusted: the socket dir is private (700).
    as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync >>"$LOG" 2>&1 ||
        fail "$SERVICE" "$LOG" "initdb failed for $DATA"
}

start_server() {
    echo "===== $(date -Is) starting postgres on 127.0.0.1:$PORT =====" >>"$LOG"
    # No -l: pg_ctl and the postmaster inherit our redirect, so the log can sit
    # in the state dir even when the postgres user cannot write there.
    as_owner "$PG_BIN/pg_ctl" start -D "$DATA" -s -w -t "$ANNOLOG_START_TIMEOUT" -o "\
-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories='$SOCK_DIR' \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off" >>"$LOG" 2>&1 ||
        fail "$SERVICE" "$LOG" "pg_ctl start failed (data dir $DATA)"
}

# Idempotent: creates the role and database when missing, and resets the
# role's attributes/password in case they drifted.
bootstrap_db() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PORT" -U postgres -d postgres \
        >>"$LOG" 2>&1 <<'SQL' || fail "$SERVICE" "$LOG" "could not create role annolog / database annolog_test"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'annolog') THEN
    CREATE ROLE annolog;
  END IF;
END $$;
ALTER ROLE annolog LOGIN CREATEDB PASSWORD 'annolog';
SELECT 'CREATE DATABASE annolog_test OWNER annolog'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'annolog_test') \gexec
SQL
}

start() {
    ensure_state_dir
    find_pg_bin
    ensure_owner_user
    locate_cluster
    if is_running; then
        if is_ready; then
            log "postgres already running (pid $(postmaster_pid))"
            return 0
        fi
    else
        ensure_port_free "$SERVICE" "$PORT"
        init_cluster
        start_server
    fi
    bootstrap_db
    local err
    err=$("$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PORT" -t 5 2>&1) ||
        fail "$SERVICE" "$LOG" "pg_isready on 127.0.0.1:$PORT: $err"
    err=$(PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -w -tA "$TCP_URL" -c 'SELECT 1' 2>&1 >/dev/null) ||
        fail "$SERVICE" "$LOG" "query as annolog over TCP failed: $err"
    log "postgres ready on 127.0.0.1:$PORT (pid $(postmaster_pid), data $DATA)"
}

stop() {
    [[ -d $ANNOLOG_SERVICES_DIR ]] || return 0
    locate_cluster
    # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients
    # (SIGTERM would wait for leftover test connections to go away).
    stop_pid "$SERVICE" "$(postmaster_pid)" "$DATA" INT
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
