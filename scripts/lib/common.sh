# shellcheck shell=bash
# Shared settings and helpers for the test-service scripts. Sourced, not run.
#
# Every setting can be overridden from the environment:
#   ANNOLOG_SERVICES_DIR   state dir: data, logs, pid files   (default <repo>/.services)
#   ANNOLOG_PG_PORT        PostgreSQL TCP port                 (default 55432)
#   ANNOLOG_KAFKA_PORT     Kafka client (PLAINTEXT) port       (default 59092)
#   ANNOLOG_KAFKA_CONTROLLER_PORT  KRaft controller port       (default kafka port + 1)
#   ANNOLOG_S3_PORT        moto S3 server port                 (default 55000)
#   ANNOLOG_START_TIMEOUT  seconds a service may take to become ready (default 120)
#   ANNOLOG_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
#   PYTHON                 interpreter that has moto[server]   (default <repo>/.venv/bin/python)
#
# All diagnostics go to stderr: stdout of services.sh is reserved for the
# export lines so that `eval "$(scripts/services.sh start)"` works.

ANNOLOG_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034  # used by the scripts that source this file
ANNOLOG_SCRIPTS=$ANNOLOG_REPO/scripts

# Absolute, because it ends up in server.properties and process command lines.
ANNOLOG_SERVICES_DIR=$(realpath -m "${ANNOLOG_SERVICES_DIR:-$ANNOLOG_REPO/.services}")
ANNOLOG_PG_PORT=${ANNOLOG_PG_PORT:-55432}
ANNOLOG_KAFKA_PORT=${ANNOLOG_KAFKA_PORT:-59092}
ANNOLOG_KAFKA_CONTROLLER_PORT=${ANNOLOG_KAFKA_CONTROLLER_PORT:-$((ANNOLOG_KAFKA_PORT + 1))}
ANNOLOG_S3_PORT=${ANNOLOG_S3_PORT:-55000}
ANNOLOG_START_TIMEOUT=${ANNOLOG_START_TIMEOUT:-120}
ANNOLOG_STOP_TIMEOUT=${ANNOLOG_STOP_TIMEOUT:-30}
PYTHON=${PYTHON:-$ANNOLOG_REPO/.venv/bin/python}

# The state dir ignores itself, so it never shows up in `git status`
# regardless of the repository's .gitignore.
ensure_state_dir() {
    mkdir -p "$ANNOLOG_SERVICES_DIR/logs" "$ANNOLOG_SERVICES_DIR/run"
    [[ -f $ANNOLOG_SERVICES_DIR/.gitignore ]] || echo '*' >"$ANNOLOG_SERVICES_DIR/.gitignore"
}

log() { echo "[services] $*" >&2; }

# fail SERVICE LOGFILE REASON: report which service failed and why, show the
# tail of its log (none if LOGFILE is ""), and exit non-zero.
fail() {
    local service=$1 logfile=$2 reason=$3
    # Built first and written at once: services start in parallel, and this
    # keeps one service's report from interleaving with another's output.
    local report
    report=$(
        echo "ERROR: $service failed to start: $reason"
        if [[ -s $logfile ]]; then
            echo "----- last 40 lines of $logfile -----"
            tail -n 40 "$logfile"
            echo "----- end of $logfile -----"
        fi
    )
    printf '%s\n' "$report" >&2
    exit 1
}

# Fail fast when an install step needs root.
require_root_for() {
    [[ $EUID -eq 0 ]] || { echo "ERROR: $1 is missing and installing it needs root (apt-get)" >&2; exit 1; }
}

apt_install() {
    require_root_for "$*"
    log "installing $* with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# port_in_use PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ensure_port_free SERVICE PORT: refuse to start on a taken port, since
# readiness probes would otherwise talk to someone else's server. (No log
# tail here: the service's log only holds earlier runs.)
ensure_port_free() {
    local service=$1 port=$2 owner
    port_in_use "$port" || return 0
    owner=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -n 1 || true)
    fail "$service" "" "port 127.0.0.1:$port is already in use by another process ${owner:-(owner unknown)}"
}

# pid_matches PID PATTERN: true if PID is alive and its command line contains
# PATTERN (guards against a stale pid file whose pid was reused).
pid_matches() {
    local pid=$1 pattern=$2 cmdline
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) &&
        [[ $cmdline == *"$pattern"* ]]
}

# spawn PIDFILE LOGFILE CMD...: run CMD detached in its own session (so a
# Ctrl-C or a closing terminal in the caller does not hit it) with stdin from
# /dev/null and stdout/stderr to LOGFILE; the child records its own pid, so
# the pid is right whether or not setsid had to fork.
spawn() {
    local pidfile=$1 logfile=$2
    shift 2
    rm -f "$pidfile"
    # shellcheck disable=SC2016  # expanded by the inner bash, on purpose
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $pidfile ]] && return 0
        sleep 0.1
    done
    return 1
}

# wait_ready SERVICE LOGFILE PID PATTERN CHECK...: poll CHECK until it succeeds;
# fail early if the process dies, or after ANNOLOG_START_TIMEOUT seconds.
wait_ready() {
    local service=$1 logfile=$2 pid=$3 pattern=$4
    shift 4
    local deadline=$((SECONDS + ANNOLOG_START_TIMEOUT))
    until "$@"; do
        pid_matches "$pid" "$pattern" || fail "$service" "$logfile" "process $pid exited during startup"
        ((SECONDS < deadline)) || fail "$service" "$logfile" "not ready after ${ANNOLOG_START_TIMEOUT}s"
        sleep 0.5
    done
}

# pid_running PID: true while any thread of PID is alive. Not kill -0: an
# unreaped zombie passes it (some containers have no init that reaps). Not
# pid_matches either: after SIGKILL the leader thread is a zombie with an empty
# cmdline while the other threads still tear down and hold the sockets.
pid_running() {
    local status
    status=$(cat "/proc/$1/status" 2>/dev/null) || return 1
    [[ $status != *$'\nState:\tZ'* || $status != *$'\nThreads:\t1\n'* ]]
}

# stop_pid SERVICE PID PATTERN [SIGNAL]: send SIGNAL (default TERM), wait up to
# ANNOLOG_STOP_TIMEOUT seconds, then SIGKILL. No-op if PID is not ours/alive.
stop_pid() {
    local service=$1 pid=$2 pattern=$3 signal=${4:-TERM}
    pid_matches "$pid" "$pattern" || return 0
    log "stopping $service (pid $pid, SIG$signal)"
    kill "-$signal" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + ANNOLOG_STOP_TIMEOUT))
    while pid_running "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    pid_running "$pid" || return 0

    log "$service did not exit within ${ANNOLOG_STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while pid_running "$pid"; do
        ((SECONDS < deadline)) || { echo "ERROR: $service (pid $pid) survived SIGKILL" >&2; return 1; }
        sleep 0.2
    done
}
