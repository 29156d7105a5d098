#!/usr/bin/env bash
# Real backing services for annolog's tests on this machine (no Docker):
# PostgreSQL, Kafka (KRaft), an S3 endpoint (moto), and headless Chromium
# for the browser tests (installed only: each test session starts its own).
#
#   scripts/services.sh start   start them all (idempotent), then print the
#                               export lines: eval "$(scripts/services.sh start)"
#   scripts/services.sh stop    stop them all (SIGTERM, then SIGKILL after a timeout)
#   scripts/services.sh env     print the export lines only
#
# Only the export lines go to stdout; progress and errors go to stderr.
# Settings (ports, state dir, timeouts, PYTHON) are described in
# scripts/lib/common.sh; each service lives in scripts/<service>.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/common.sh
source "$here/lib/common.sh"

SERVICES=(postgres kafka s3 chromium)

print_env() {
    cat <<EOF
export ANNOLOG_TEST_DATABASE_URL=postgresql+psycopg2://annolog:annolog@127.0.0.1:$ANNOLOG_PG_PORT/annolog_test
export ANNOLOG_TEST_KAFKA_BOOTSTRAP=127.0.0.1:$ANNOLOG_KAFKA_PORT
export ANNOLOG_TEST_S3_ENDPOINT=http://127.0.0.1:$ANNOLOG_S3_PORT
EOF
}

# run_all ACTION: run scripts/<service>.sh ACTION for all services in parallel
# (the JVM start dominates; the others overlap with it). Their stdout is sent
# to stderr so nothing but the export lines can reach our stdout.
run_all() {
    local action=$1 service failed=()
    local -A pids
    for service in "${SERVICES[@]}"; do
        "$here/$service.sh" "$action" >&2 &
        pids[$service]=$!
    done
    for service in "${SERVICES[@]}"; do
        wait "${pids[$service]}" || failed+=("$service")
    done
    if ((${#failed[@]})); then
        echo "ERROR: services.sh $action failed for: ${failed[*]} (state dir: $ANNOLOG_SERVICES_DIR)" >&2
        exit 1
    fi
}

case ${1:-} in
    start)
        run_all start
        print_env
        ;;
    stop) run_all stop ;;
    env) print_env ;;
    *)
        echo "usage: $0 start|stop|env" >&2
        exit 2
        ;;
esac
