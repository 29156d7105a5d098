#!/usr/bin/env bash
# Apache Kafka 3.9.1 test broker for annolog: single node, KRaft, plain JVM.
#   scripts/kafka.sh start|stop   (normally called by scripts/services.sh)
#
# The broker runs from Maven Central jars (scripts/kafka/pom.xml) cached
# outside the repo in ${XDG_CACHE_HOME:-$HOME/.cache}/annolog/kafka-3.9.1, so
# every clone on the machine shares one download; the `.complete` marker makes
# later runs skip Maven entirely. Data (log.dirs) lives in
# $ANNOLOG_SERVICES_DIR/kafka/data and is formatted once, so restarts keep
# both the topics and the cluster id.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SERVICE=kafka
KAFKA_VERSION=3.9.1
JARS=${XDG_CACHE_HOME:-$HOME/.cache}/annolog/kafka-$KAFKA_VERSION
KAFKA_DIR=$ANNOLOG_SERVICES_DIR/kafka
PROPS=$KAFKA_DIR/server.properties
PIDFILE=$ANNOLOG_SERVICES_DIR/run/kafka.pid
LOG=$ANNOLOG_SERVICES_DIR/logs/kafka.log
JAVA_ARGS=(-Dlog4j.configuration="file:$ANNOLOG_SCRIPTS/kafka/log4j.properties" -cp "$JARS/*")

ensure_tools() {
    command -v java >/dev/null || apt_install default-jre-headless
    command -v mvn >/dev/null || apt_install maven
}

# Download into a temporary sibling and rename it into place, so an
# interrupted or concurrent download never leaves a half-filled cache that
# looks complete.
fetch_jars() {
    [[ -f $JARS/.complete ]] && return 0
    log "downloading Kafka $KAFKA_VERSION jars from Maven Central into $JARS"
    local tmp=$JARS.partial.$$
    rm -rf "$JARS" "$tmp"
    mkdir -p "$(dirname "$JARS")"
    if ! mvn -q -B -f "$ANNOLOG_SCRIPTS/kafka/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >>"$LOG" 2>&1; then
        rm -rf "$tmp"
        fail "$SERVICE" "$LOG" "mvn could not fetch the Kafka jars (is Maven Central reachable?)"
    fi
    touch "$tmp/.complete"
    mv -T "$tmp" "$JARS" 2>/dev/null || rm -rf "$tmp"
}

render_properties() {
    local text
    text=$(<"$ANNOLOG_SCRIPTS/kafka/server.properties.template")
    # Quoted replacements: bash 5.2 would otherwise expand `&` in them.
    text=${text//@KAFKA_PORT@/"$ANNOLOG_KAFKA_PORT"}
    text=${text//@CONTROLLER_PORT@/"$ANNOLOG_KAFKA_CONTROLLER_PORT"}
    text=${text//@LOG_DIR@/"$KAFKA_DIR/data"}
    printf '%s\n' "$text" >"$PROPS"
}

# Format once: re-formatting would give the existing data a new cluster id.
format_storage() {
    [[ -f $KAFKA_DIR/data/meta.properties ]] && return 0
    local cluster_id
    cluster_id=$(java "${JAVA_ARGS[@]}" kafka.tools.StorageTool random-uuid 2>>"$LOG") ||
        fail "$SERVICE" "$LOG" "StorageTool random-uuid failed"
    log "formatting Kafka storage $KAFKA_DIR/data (cluster id $cluster_id)"
    java "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" >>"$LOG" 2>&1 ||
        fail "$SERVICE" "$LOG" "StorageTool format failed"
}

# A real Kafka request over plain bash, independent of any Python venv:
# ApiVersions v0 (api_key 18) with correlation id 1 and an empty client id.
# Ready when the reply echoes correlation id 1 with error code 0. The broker
# only starts serving its client listener once it has caught up with the
# metadata log and been unfenced, so this also means "topics can be created".
is_ready() {
    # shellcheck disable=SC2016  # expanded by the inner bash, on purpose
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\x00\x00" >&3
        reply=$(head -c 10 <&3 | od -An -tx1 | tr -d " \n")
        [[ $reply == ????????000000010000 ]]
    ' "$ANNOLOG_KAFKA_PORT" 2>/dev/null
}

start() {
    ensure_state_dir
    mkdir -p "$KAFKA_DIR"
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if pid_matches "$pid" kafka.Kafka; then
        if is_ready; then
            log "kafka already running (pid $pid)"
            return 0
        fi
        log "kafka process $pid exists but is not ready yet, waiting"
    else
        ensure_port_free "$SERVICE" "$ANNOLOG_KAFKA_PORT"
        ensure_port_free "$SERVICE" "$ANNOLOG_KAFKA_CONTROLLER_PORT"
        ensure_tools
        fetch_jars
        render_properties
        format_storage
        echo "===== $(date -Is) starting kafka on 127.0.0.1:$ANNOLOG_KAFKA_PORT =====" >>"$LOG"
        spawn "$PIDFILE" "$LOG" java -Xmx512m "${JAVA_ARGS[@]}" kafka.Kafka "$PROPS" ||
            fail "$SERVICE" "$LOG" "could not launch the JVM"
        pid=$(<"$PIDFILE")
    fi
    wait_ready "$SERVICE" "$LOG" "$pid" kafka.Kafka is_ready
    log "kafka ready on 127.0.0.1:$ANNOLOG_KAFKA_PORT (pid $pid)"
}

stop() {
    [[ -f $PIDFILE ]] || return 0
    # SIGTERM makes the broker shut down cleanly (no log recovery next start).
    stop_pid "$SERVICE" "$(<"$PIDFILE")" kafka.Kafka
    rm -f "$PIDFILE"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
