#!/usr/bin/env bash
# annolog's whole server stack on this machine, no Docker: the services of
# scripts/services.sh (PostgreSQL, Kafka, moto's S3 server), then `annolog serve`
# and `annolog projector` in the background.
#
#   scripts/serve.sh start   start what is not running (idempotent), then print the
#                            settings to use; they are also in <state dir>/serve.env
#   scripts/serve.sh stop    stop the API, the projector and the services
#
# `make serve` and `make stop` run these. Only the settings go to stdout (so
# `eval "$(scripts/serve.sh start)"` works); progress and errors go to stderr.
# Logs and pid files are the services' (<state dir>/logs, <state dir>/run).
#
# The stack's data: database `annolog`, topic `annolog.commits`, blobs under
# s3://annolog/blobs, signed with a key made once (<state dir>/serve/signing-key).
# moto keeps the blobs in memory only, so when its bucket is gone (it was stopped)
# the log and the views that name those blobs are dropped too and the stack
# starts empty, with a new admin token: this stack is for trying annolog out.
#
# Settings besides those of scripts/lib/common.sh:
#   ANNOLOG_API_PORT   port of `annolog serve` on 127.0.0.1   (default 8000)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"

API_PORT=${ANNOLOG_API_PORT:-8000}
API_URL=http://127.0.0.1:$API_PORT
DATABASE=annolog
TOPIC=annolog.commits
BUCKET=annolog
KEYS=$ANNOLOG_SERVICES_DIR/serve
ENV_FILE=$ANNOLOG_SERVICES_DIR/serve.env
RUN=$ANNOLOG_SERVICES_DIR/run
LOGS=$ANNOLOG_SERVICES_DIR/logs

# The stack's settings, as the processes and the user get them.
settings() {
    cat <<EOF
export ANNOLOG_LOG_URL=kafka://127.0.0.1:$ANNOLOG_KAFKA_PORT
export ANNOLOG_KAFKA_TOPIC=$TOPIC
export ANNOLOG_LOG_SIGNING_KEYS=local:$(<"$KEYS/signing-key")
export ANNOLOG_DATABASE_URL=postgresql+psycopg2://annolog:annolog@127.0.0.1:$ANNOLOG_PG_PORT/$DATABASE
export ANNOLOG_BLOB_URL=s3://$BUCKET/blobs
export ANNOLOG_S3_ENDPOINT_URL=http://127.0.0.1:$ANNOLOG_S3_PORT
export AWS_ACCESS_KEY_ID=annolog
export AWS_SECRET_ACCESS_KEY=annolog-secret
export AWS_DEFAULT_REGION=us-east-1
EOF
}

psql_admin() {
    local psql
    psql=$(printf '%s\n' /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1)
    "$psql" -X -q -w -v ON_ERROR_STOP=1 "postgresql://annolog:annolog@127.0.0.1:$ANNOLOG_PG_PORT/annolog_test" "$@"
}

# The blobs went with moto: drop what names them, so that nothing points at missing bytes.
forget_data() {
    log "bucket '$BUCKET' is new (moto keeps blobs in memory only): the stack starts empty"
    stop_annolog
    psql_admin -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)" >&2
    "$PYTHON" - "127.0.0.1:$ANNOLOG_KAFKA_PORT" "$TOPIC" <<'PY' >&2
import sys, time
from kafka import KafkaAdminClient

bootstrap, topic = sys.argv[1:]
admin = KafkaAdminClient(bootstrap_servers=bootstrap)
if topic in admin.list_topics():
    admin.delete_topics([topic])
deadline = time.monotonic() + 30
while topic in admin.list_topics():  # annolog serve must create it afresh, not find it half deleted
    if time.monotonic() > deadline:
        sys.exit(f"topic {topic} still exists 30 s after it was deleted")
    time.sleep(0.2)
PY
    rm -f "$KEYS/admin-token"
}

ensure_database() {
    psql_admin >&2 <<SQL
SELECT 'CREATE DATABASE $DATABASE OWNER annolog'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DATABASE') \gexec
SQL
}

ensure_signing_key() {
    [[ -s $KEYS/signing-key ]] && return 0
    (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32))' >"$KEYS/signing-key")
}

api_ready() { curl -fsS -o /dev/null --max-time 2 "$API_URL/ready" 2>/dev/null; }

start_api() {
    local pid
    pid=$(cat "$RUN/annolog-api.pid" 2>/dev/null || true)
    if ! pid_matches "$pid" "annolog serve"; then
        ensure_port_free annolog-api "$API_PORT"
        echo "===== $(date -Is) starting annolog serve on $API_URL =====" >>"$LOGS/annolog-api.log"
        spawn "$RUN/annolog-api.pid" "$LOGS/annolog-api.log" "$PYTHON" -m annolog serve --port "$API_PORT" ||
            fail annolog-api "$LOGS/annolog-api.log" "could not launch annolog serve"
        pid=$(<"$RUN/annolog-api.pid")
    fi
    wait_ready annolog-api "$LOGS/annolog-api.log" "$pid" "annolog serve" api_ready
    log "annolog serve ready on $API_URL (pid $pid, OpenAPI at $API_URL/docs)"
}

start_projector() {
    local pid log=$LOGS/annolog-projector.log
    pid=$(cat "$RUN/annolog-projector.pid" 2>/dev/null || true)
    if ! pid_matches "$pid" "annolog projector"; then
        echo "===== $(date -Is) starting annolog projector =====" >>"$log"
        local from=$(($(wc -l <"$log") + 1))
        spawn "$RUN/annolog-projector.pid" "$log" "$PYTHON" -m annolog projector ||
            fail annolog-projector "$log" "could not launch annolog projector"
        pid=$(<"$RUN/annolog-projector.pid")
        # The line `annolog projector` prints once it has the database and the log (a whole
        # line: a traceback quotes the source that prints it).
        # shellcheck disable=SC2317  # called by wait_ready
        running() { tail -n "+$from" "$log" | grep -qx "projector running"; }
        wait_ready annolog-projector "$log" "$pid" "annolog projector" running
    fi
    log "annolog projector running (pid $pid)"
}

ensure_admin_token() {
    [[ -s $KEYS/admin-token ]] && return 0
    local token
    if ! token=$("$PYTHON" -m annolog token create admin --admin); then
        echo "ERROR: could not create the first admin token (annolog token create admin --admin)" >&2
        exit 1
    fi
    (umask 077 && echo "$token" >"$KEYS/admin-token")
}

write_env() {
    (
        umask 077
        {
            echo "# annolog's server stack (scripts/serve.sh); stop it with \`make stop\`."
            echo "# API $API_URL (OpenAPI at /docs); logs in $LOGS/annolog-{api,projector}.log"
            settings
            echo "# The SDK and the command line talk to the API with the first admin token, principal 'admin':"
            echo "export ANNOLOG_SERVER_URL=$API_URL"
            echo "export ANNOLOG_TOKEN=$(<"$KEYS/admin-token")"
        } >"$ENV_FILE"
    )
}

stop_annolog() {
    local name pidfile
    local -A command=([projector]="annolog projector" [api]="annolog serve")
    for name in projector api; do
        pidfile=$RUN/annolog-$name.pid
        [[ -f $pidfile ]] || continue
        stop_pid "annolog-$name" "$(<"$pidfile")" "${command[$name]}"
        rm -f "$pidfile"
    done
}

start() {
    # Left by an earlier `source serve.env`, these would send `annolog token create` to the
    # API (with a token a reset may have voided) instead of the stack's own token table.
    unset ANNOLOG_SERVER_URL ANNOLOG_TOKEN
    "$here/services.sh" start >/dev/null
    ensure_state_dir
    mkdir -p -m 700 "$KEYS"
    local bucket
    bucket=$("$here/s3.sh" bucket "$BUCKET") # a failure stops here: it must not read as "created"
    [[ $bucket == exists ]] || forget_data
    ensure_database
    ensure_signing_key
    eval "$(settings)"
    start_api
    start_projector
    ensure_admin_token
    write_env
    cat "$ENV_FILE"
}

stop() {
    stop_annolog
    "$here/services.sh" stop
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
