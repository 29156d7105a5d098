#!/usr/bin/env bash
# S3-compatible test endpoint for annolog: moto in server mode.
#   scripts/s3.sh start|stop   (normally called by scripts/services.sh)
#   scripts/s3.sh bucket NAME  create bucket NAME on the running server unless it is
#                              there; prints "created" or "exists" (scripts/serve.sh)
#
# Runs `$PYTHON -m moto.server` on 127.0.0.1:$ANNOLOG_S3_PORT; PYTHON defaults
# to the project venv (<repo>/.venv/bin/python), which must have moto[server].
# moto keeps everything in memory: buckets are gone after a stop.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SERVICE=s3
PORT=$ANNOLOG_S3_PORT
PIDFILE=$ANNOLOG_SERVICES_DIR/run/s3.pid
LOG=$ANNOLOG_SERVICES_DIR/logs/s3.log

# GET / is S3 ListBuckets; moto answers it with 200.
is_ready() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/" 2>/dev/null
}

# Checked up front so a missing venv or package is reported as such rather
# than as "process exited".
check_python() {
    command -v "$PYTHON" >/dev/null ||
        fail "$SERVICE" "" "no Python interpreter '$PYTHON' (create <repo>/.venv with moto[server], or set PYTHON=...)"
    local err
    err=$("$PYTHON" -c 'import moto.server' 2>&1) ||
        fail "$SERVICE" "" "'$PYTHON' cannot import moto.server (pip install 'moto[server]'): ${err##*$'\n'}"
}

start() {
    ensure_state_dir
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if pid_matches "$pid" moto.server; then
        if is_ready; then
            log "s3 (moto) already running (pid $pid)"
            return 0
        fi
        log "s3 (moto) process $pid exists but is not ready yet, waiting"
    else
        ensure_port_free "$SERVICE" "$PORT"
        check_python
        echo "===== $(date -Is) starting moto on 127.0.0.1:$PORT =====" >>"$LOG"
        spawn "$PIDFILE" "$LOG" "$PYTHON" -m moto.server -H 127.0.0.1 -p "$PORT" ||
            fail "$SERVICE" "$LOG" "could not launch $PYTHON -m moto.server"
        pid=$(<"$PIDFILE")
    fi
    wait_ready "$SERVICE" "$LOG" "$pid" moto.server is_ready
    log "s3 (moto) ready on http://127.0.0.1:$PORT (pid $pid)"
}

# annolog never creates its bucket (see annolog/blobs/s3.py), so the stacks we start do.
# moto takes unsigned path-style requests: HEAD /NAME tells whether it exists, PUT makes it.
bucket() {
    local name=$1 url="http://127.0.0.1:$PORT/$1"
    is_ready || fail "$SERVICE" "$LOG" "no S3 server on 127.0.0.1:$PORT to create bucket '$name' in (start it first)"
    if curl -fsS -o /dev/null --max-time 5 -I "$url" 2>/dev/null; then
        echo exists
        return 0
    fi
    curl -fsS -o /dev/null --max-time 5 -X PUT "$url" >&2 ||
        fail "$SERVICE" "$LOG" "could not create bucket '$name' at http://127.0.0.1:$PORT"
    echo created
}

stop() {
    [[ -f $PIDFILE ]] || return 0
    stop_pid "$SERVICE" "$(<"$PIDFILE")" moto.server
    rm -f "$PIDFILE"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    bucket) [[ -n ${2:-} ]] || { echo "usage: $0 bucket NAME" >&2; exit 2; }; bucket "$2" ;;
    *) echo "usage: $0 start|stop|bucket NAME" >&2; exit 2 ;;
esac
