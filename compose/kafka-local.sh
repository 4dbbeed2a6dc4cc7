#!/usr/bin/env bash
# Run a real single-node Apache Kafka (KRaft, combined broker+controller) on loopback,
# without Docker and without the release tarball: the jars come from Maven Central
# (compose/kafka/pom.xml) and are cached, so later runs work offline.
#
# See `compose/kafka-local.sh --help`.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_DIR="$SCRIPT_DIR/kafka"
POM="$KAFKA_DIR/pom.xml"
LOG4J_CONFIG="${ROLECALL_KAFKA_LOG4J_CONFIG:-$KAFKA_DIR/log4j2.properties}"
PROBE="$KAFKA_DIR/probe.py"

# The one place the version is written down is the pom.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)"

KAFKA_HOME="${ROLECALL_KAFKA_HOME:-${HOME:-/root}/.cache/rolecall/kafka-$KAFKA_VERSION}"
STATE_DIR="${ROLECALL_KAFKA_STATE:-/tmp/rolecall-kafka}"
PORT="${ROLECALL_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${ROLECALL_KAFKA_CONTROLLER_PORT:-9093}"
HOST=127.0.0.1
START_TIMEOUT="${ROLECALL_KAFKA_START_TIMEOUT:-120}"
STOP_TIMEOUT="${ROLECALL_KAFKA_STOP_TIMEOUT:-60}"
HEAP_OPTS="${ROLECALL_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
JVM_OPTS="${ROLECALL_KAFKA_JVM_OPTS:-}"
CDS="${ROLECALL_KAFKA_CDS:-1}"
PYTHON="${PYTHON:-python3}"
MVN="${MVN:-mvn}"
STARTED_LINE="Kafka Server started"

# Absolute paths: the broker is recognised by the config path on its command line.
[[ "$KAFKA_HOME" == /* ]] || KAFKA_HOME="$PWD/$KAFKA_HOME"
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
LIB_DIR="$KAFKA_HOME/lib"
FETCH_MARKER="$KAFKA_HOME/.fetch-complete"
DATA_DIR="$STATE_DIR/data"
PROPS="$STATE_DIR/server.properties"
PID_FILE="$STATE_DIR/kafka.pid"
LOG_FILE="$STATE_DIR/kafka.log"
LOCK_FILE="$STATE_DIR/.lock"

PROG="$(basename "$0")"

usage() {
  cat <<EOF
Usage: $PROG COMMAND

Run a real single-node Apache Kafka $KAFKA_VERSION broker (KRaft, broker+controller in
one JVM) on $HOST, for tests and local development. Needs Java 17+; the first
fetch needs Maven and access to Maven Central, later runs work offline.

Commands:
  fetch     Download the broker jars with Maven into the cache (once; skipped when the
            cache is complete).
  start     Fetch if needed, write server.properties, format the storage (first time,
            fresh cluster id), start the broker in the background and wait until a
            client can list topics. Prints how long it took. Does nothing (exit 0) when
            the broker is already running and healthy.
  stop      SIGTERM, wait up to ${STOP_TIMEOUT}s for exit, then SIGKILL. Removes the pid file.
  status    Exit 0 when running and answering, 1 when not running, 2 when the process
            is up but does not answer (yet).
  restart   stop, then start.
  reset     stop, then delete the state directory (topics, offsets, log).
  logs      Print the broker log (the last 100 lines; 'logs -f' follows it).
  bootstrap Print the bootstrap address ($HOST:$PORT).
  help      This text (also -h, --help).

Environment (defaults in brackets):
  ROLECALL_KAFKA_PORT             client port [9092]
  ROLECALL_KAFKA_CONTROLLER_PORT  KRaft controller port [9093]
  ROLECALL_KAFKA_HOME             jar cache [\$HOME/.cache/rolecall/kafka-$KAFKA_VERSION]
  ROLECALL_KAFKA_STATE            config, data, pid and log [/tmp/rolecall-kafka]
  ROLECALL_KAFKA_START_TIMEOUT    seconds to wait for readiness [120]
  ROLECALL_KAFKA_STOP_TIMEOUT     seconds to wait for a clean stop [60]
  ROLECALL_KAFKA_HEAP_OPTS        JVM heap [-Xms256m -Xmx512m]
  ROLECALL_KAFKA_JVM_OPTS         more JVM options, e.g. -XX:TieredStopAtLevel=1 for
                                  faster starts at lower peak throughput []
  ROLECALL_KAFKA_CDS              1: keep a class-data archive of the first run's
                                  classes in the jar cache for faster starts; 0: don't [1]
  ROLECALL_KAFKA_LOG4J_CONFIG     log4j2 config [compose/kafka/log4j2.properties]
  PYTHON                          interpreter for the readiness probe [python3]; with
                                  kafka-python installed it lists topics through it,
                                  else through a raw Metadata request (stdlib only)
  JAVA_HOME / MVN                 which java [java on PATH] and mvn [mvn] to use

Examples:
  $PROG start                      # broker on 127.0.0.1:9092
  PYTHON=.venv/bin/python $PROG start
  ROLECALL_KAFKA_PORT=19092 ROLECALL_KAFKA_CONTROLLER_PORT=19093 \\
    ROLECALL_KAFKA_STATE=/tmp/kafka-b $PROG start   # a second, separate broker
  $PROG status && echo up
  $PROG logs -f
  $PROG stop
  $PROG reset                      # stop and forget all topics
EOF
}

say() { printf '%s: %s\n' "$PROG" "$*"; }
err() { printf '%s: error: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() { err "$@"; exit 1; }

now_ms() { date +%s%3N; }
elapsed() { # elapsed START_MS -> "12.3s"
  local ms=$(( $(now_ms) - $1 ))
  printf '%d.%ds' $(( ms / 1000 )) $(( (ms % 1000) / 100 ))
}

check_config() {
  [[ -n "$KAFKA_VERSION" ]] || die "cannot read <kafka.version> from $POM"
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if ! [[ "$p" =~ ^[0-9]+$ ]] || (( p < 1 || p > 65535 )); then
      die "invalid port '$p' (ROLECALL_KAFKA_PORT / ROLECALL_KAFKA_CONTROLLER_PORT)"
    fi
  done
  [[ "$PORT" != "$CONTROLLER_PORT" ]] ||
    die "ROLECALL_KAFKA_PORT and ROLECALL_KAFKA_CONTROLLER_PORT must differ (both $PORT)"
  [[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die "invalid ROLECALL_KAFKA_START_TIMEOUT '$START_TIMEOUT'"
  [[ "$STOP_TIMEOUT" =~ ^[0-9]+$ ]] || die "invalid ROLECALL_KAFKA_STOP_TIMEOUT '$STOP_TIMEOUT'"
}

# ---------------------------------------------------------------------------- java

JAVA=""
JAVA_VERSION_TEXT=""
find_java() { # find_java [quiet]: sets JAVA (17+); with 'quiet' returns 1 instead of dying
  local quiet="${1:-}"
  if [[ -n "$JAVA" ]]; then
    return 0
  fi
  local java=""
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    java="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    java="$(command -v java)"
  else
    [[ -n "$quiet" ]] && return 1
    die "java not found: Kafka $KAFKA_VERSION needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless)"
  fi
  local text version major
  text="$("$java" -version 2>&1 || true)"
  version="$(sed -n 's/.*version "\([^"]*\)".*/\1/p' <<<"$text" | head -n 1)"
  major="${version%%.*}"
  [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$version")"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || (( major < 17 )); then
    [[ -n "$quiet" ]] && return 1
    die "Kafka $KAFKA_VERSION needs Java 17+, but $java is '${version:-unknown}' (set JAVA_HOME)"
  fi
  JAVA="$java"
  JAVA_VERSION_TEXT="$text"
}

# --------------------------------------------------------------------------- fetch

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

fetch_complete() {
  [[ -f "$FETCH_MARKER" && "$(cat "$FETCH_MARKER")" == "$(pom_sum)" ]] &&
    compgen -G "$LIB_DIR/org.apache.kafka.kafka_2.13-*.jar" >/dev/null
}

cmd_fetch() {
  check_config
  if fetch_complete; then
    say "Kafka $KAFKA_VERSION jars already in $LIB_DIR"
    return 0
  fi
  command -v "$MVN" >/dev/null 2>&1 ||
    die "Maven ('$MVN') not found; it is needed once to fetch the Kafka jars (e.g. apt-get install maven)"
  mkdir -p "$KAFKA_HOME"
  # Brokers with different state dirs may share the cache: one fetch at a time.
  if command -v flock >/dev/null 2>&1; then
    exec 8>"$KAFKA_HOME/.fetch.lock"
    flock -w 900 8 || die "another fetch into $KAFKA_HOME does not finish"
    if fetch_complete; then
      exec 8>&-
      say "Kafka $KAFKA_VERSION jars already in $LIB_DIR"
      return 0
    fi
  fi
  local tmp="$KAFKA_HOME/lib.partial.$$" out="$KAFKA_HOME/fetch.log" t0
  rm -rf "$tmp"
  t0="$(now_ms)"
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIB_DIR ..."
  # Packaging pom: nothing is built, the plugin only copies the runtime closure.
  if ! "$MVN" -B -q -ntp -Dstyle.color=never -f "$POM" \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -Dmdep.prependGroupId=true -DoutputDirectory="$tmp" \
      >"$out" 2>&1; then
    tail -n 40 "$out" >&2 || true
    rm -rf "$tmp"
    die "Maven could not fetch the Kafka jars (full output: $out)"
  fi
  compgen -G "$tmp/org.apache.kafka.kafka_2.13-$KAFKA_VERSION.jar" >/dev/null ||
    { rm -rf "$tmp"; die "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing in $tmp"; }
  rm -rf "$LIB_DIR"
  rm -f "$KAFKA_HOME"/cds-*.jsa
  mv "$tmp" "$LIB_DIR"
  pom_sum >"$FETCH_MARKER"
  exec 8>&-
  say "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars ($(du -sh "$LIB_DIR" | cut -f1)) in $(elapsed "$t0")"
}

# ----------------------------------------------------------------------- processes

# Our broker is the java process running kafka.Kafka with this state dir's config.
is_our_broker() {
  local pid="$1" cmdline
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *" kafka.Kafka $PROPS "* ]]
}

# Prints the broker's pid (from the pid file, or found by its command line when the pid
# file was lost); returns 1 when it is not running. Drops a stale pid file.
broker_pid() {
  local pid=""
  if [[ -f "$PID_FILE" ]]; then
    pid="$(cat "$PID_FILE" 2>/dev/null || true)"
    if is_our_broker "$pid"; then echo "$pid"; return 0; fi
    rm -f "$PID_FILE"
  fi
  local d
  for d in /proc/[0-9]*; do
    pid="${d#/proc/}"
    if [[ "$pid" != "$$" ]] && is_our_broker "$pid"; then
      echo "$pid" >"$PID_FILE" 2>/dev/null || true
      echo "$pid"
      return 0
    fi
  done
  return 1
}

port_in_use() { # port_in_use PORT: something accepts connections on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

probe() { # probe TIMEOUT_S: a client can bootstrap and list topics
  if command -v "$PYTHON" >/dev/null 2>&1; then
    "$PYTHON" "$PROBE" "$HOST:$PORT" --timeout "$1" >/dev/null 2>&1
  else
    # No Python at all: the port answers and the log says the server started.
    port_in_use "$PORT" && grep -q "$STARTED_LINE" "$LOG_FILE" 2>/dev/null
  fi
}

log_tail() {
  if [[ -s "$LOG_FILE" ]]; then
    echo "---- last lines of $LOG_FILE ----" >&2
    tail -n "${1:-40}" "$LOG_FILE" >&2 || true
    echo "----" >&2
  fi
}

with_lock() {
  mkdir -p "$STATE_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK_FILE"
    flock -w "$(( START_TIMEOUT + STOP_TIMEOUT ))" 9 ||
      die "another $PROG is working on $STATE_DIR (lock $LOCK_FILE)"
  fi
}

terminate() { # terminate PID: SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL (returns 1)
  local pid="$1" deadline=$(( $(date +%s) + STOP_TIMEOUT ))
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if (( $(date +%s) >= deadline )); then
      warn "pid $pid did not exit within ${STOP_TIMEOUT}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
      rm -f "$PID_FILE"
      return 1
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
}

# --------------------------------------------------------------------------- start

write_properties() {
  cat >"$PROPS.tmp" <<EOF
# Written by compose/kafka-local.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
num.partitions=4
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=4
min.insync.replicas=1
default.replication.factor=1
log.cleaner.dedupe.buffer.size=33554432
log.retention.hours=168
EOF
  mv "$PROPS.tmp" "$PROPS"
}

# What `kafka-storage random-uuid` prints (16 random bytes, URL-safe base64 without
# padding, never starting with '-'), without paying for another JVM start.
new_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    if [[ ${#id} -eq 22 && "$id" != -* ]]; then
      echo "$id"
      return 0
    fi
  done
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local cluster_id out
  cluster_id="$(new_cluster_id)"
  say "formatting $DATA_DIR (cluster id $cluster_id)"
  if ! out="$("$JAVA" -cp "$LIB_DIR/*" -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$PROPS" 2>&1)"; then
    echo "$out" >&2
    die "formatting the storage in $DATA_DIR failed"
  fi
  echo "$cluster_id" >"$STATE_DIR/cluster.id"
}

# ------------------------------------------------------------- class data sharing
# A JVM start spends most of its time loading classes. The first broker run dumps the
# classes it loaded into a CDS archive when it stops cleanly; later starts map that
# archive and come up in about half the time. The archive is only used after a JVM
# accepted it (a truncated one crashes the JVM), and ROLECALL_KAFKA_CDS=0 turns it off.

CDS_PARTIAL="$STATE_DIR/cds.partial.jsa"

cds_archive() { # path of the archive for this JVM and jar set
  local key
  key="$(printf '%s\n' "$JAVA" "$JAVA_VERSION_TEXT" "$(cat "$FETCH_MARKER" 2>/dev/null)" | cksum | cut -d' ' -f1)"
  echo "$KAFKA_HOME/cds-$key.jsa"
}

cds_valid() { # cds_valid FILE: the JVM maps it with this class path
  # The outer 2>/dev/null also hides bash's own "Aborted" report of a crashing JVM.
  [[ -s "$1" ]] && {
    "$JAVA" -Xshare:on -XX:SharedArchiveFile="$1" -XX:ErrorFile=/dev/null -Xlog:disable \
      -cp "$LIB_DIR/*" -version >/dev/null 2>&1
  } 2>/dev/null
}

CDS_OPTS=()
cds_prepare() { # sets CDS_OPTS for the next launch
  CDS_OPTS=()
  [[ "$CDS" != 0 ]] || return 0
  local archive
  archive="$(cds_archive)"
  rm -f "$CDS_PARTIAL"
  if [[ -e "$archive" ]]; then
    if cds_valid "$archive"; then
      CDS_OPTS=(-XX:SharedArchiveFile="$archive" -Xlog:cds=off -Xlog:cds+dynamic=off)
      return 0
    fi
    warn "ignoring unusable class-data archive $archive (a new one is written at the next stop)"
    rm -f "$archive"
  fi
  CDS_OPTS=(-XX:ArchiveClassesAtExit="$CDS_PARTIAL" -Xlog:cds=off -Xlog:cds+dynamic=off)
}

cds_collect() { # after a clean stop: keep the archive the broker dumped, if usable
  [[ -f "$CDS_PARTIAL" ]] || return 0
  if [[ "$CDS" != 0 ]] && find_java quiet && cds_valid "$CDS_PARTIAL"; then
    local archive tmp
    archive="$(cds_archive)"
    tmp="$archive.tmp.$$"
    if cp "$CDS_PARTIAL" "$tmp" 2>/dev/null && mv -f "$tmp" "$archive"; then
      say "saved class-data archive for faster starts: $archive"
    else
      rm -f "$tmp"
    fi
  fi
  rm -f "$CDS_PARTIAL"
}

# ---------------------------------------------------------------- start and wait

BROKER_PID=""
launch() { # start the JVM in the background; sets BROKER_PID
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.prev"
  # Detached from the caller: all three standard streams redirected (a caller that
  # captures our output must not wait for the JVM), the lock fd closed, the working
  # directory in the state dir. The subshell execs nohup, which execs java: $! is
  # the JVM's pid.
  # shellcheck disable=SC2086  # HEAP_OPTS and JVM_OPTS hold several words
  (
    cd "$STATE_DIR"
    exec nohup "$JAVA" $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
      -XX:+ExitOnOutOfMemoryError -XX:ErrorFile="$STATE_DIR/hs_err_pid%p.log" \
      -Djava.awt.headless=true "${CDS_OPTS[@]}" $JVM_OPTS \
      -Dlog4j2.configurationFile="$LOG4J_CONFIG" \
      -cp "$LIB_DIR/*" kafka.Kafka "$PROPS"
  ) </dev/null >"$LOG_FILE" 2>&1 8>&- 9>&- &
  BROKER_PID=$!
  echo "$BROKER_PID" >"$PID_FILE"
}

wait_ready() { # wait_ready PID: 0 ready, 1 the process exited, 2 timed out
  local pid="$1" deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    if grep -q "$STARTED_LINE" "$LOG_FILE" 2>/dev/null && probe 5; then
      return 0
    fi
    if (( $(date +%s) >= deadline )); then
      return 2
    fi
    sleep 0.5
  done
}

configured_port() { # the client port the running broker was started with
  sed -n "s|^listeners=PLAINTEXT://[^:]*:\([0-9]*\),.*|\1|p" "$PROPS" 2>/dev/null
}

cmd_start() {
  check_config
  with_lock
  local pid t0 rc
  t0="$(now_ms)"
  if pid="$(broker_pid)"; then
    if probe 5; then
      say "already running and healthy (pid $pid) on $HOST:$PORT"
      return 0
    fi
    local running_port
    running_port="$(configured_port)"
    if [[ -n "$running_port" && "$running_port" != "$PORT" ]]; then
      die "a broker (pid $pid) already runs from $STATE_DIR on port $running_port, not $PORT; run '$PROG stop' first"
    fi
    say "already running (pid $pid), waiting for it to answer on $HOST:$PORT ..."
    rc=0
    wait_ready "$pid" || rc=$?
    if (( rc != 0 )); then
      log_tail 60
      die "the broker (pid $pid) did not become ready (log: $LOG_FILE)"
    fi
    say "Kafka $KAFKA_VERSION ready on $HOST:$PORT (pid $pid) after $(elapsed "$t0")"
    return 0
  fi

  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_in_use "$p"; then
      die "port $HOST:$p is already in use by another process; free it or set ROLECALL_KAFKA_PORT / ROLECALL_KAFKA_CONTROLLER_PORT"
    fi
  done
  find_java
  if ! fetch_complete; then
    cmd_fetch
  fi

  mkdir -p "$STATE_DIR" "$DATA_DIR"
  write_properties
  format_storage

  local attempt
  for attempt in 1 2; do
    t0="$(now_ms)"
    cds_prepare
    launch
    pid="$BROKER_PID"
    say "starting Kafka $KAFKA_VERSION (pid $pid) on $HOST:$PORT, controller $HOST:$CONTROLLER_PORT, state $STATE_DIR ..."
    rc=0
    wait_ready "$pid" || rc=$?
    case "$rc" in
      0)
        say "Kafka $KAFKA_VERSION ready on $HOST:$PORT (pid $pid) in $(elapsed "$t0")"
        return 0
        ;;
      1)
        rm -f "$PID_FILE" "$CDS_PARTIAL"
        log_tail 60
        if (( attempt == 1 && ${#CDS_OPTS[@]} > 0 )) &&
          grep -qiE "fatal error|shared archive|CDS|ArchiveClassesAtExit" "$LOG_FILE" 2>/dev/null; then
          # The JVM refused or crashed on class data sharing (not seen here: archives are
          # checked first, but JVM builds differ): retry once without it.
          warn "the JVM failed with class data sharing; retrying without it"
          [[ "${CDS_OPTS[*]}" == *SharedArchiveFile* ]] && rm -f "$(cds_archive)"
          CDS=0
          continue
        fi
        die "the broker exited during startup (log: $LOG_FILE)"
        ;;
      *)
        log_tail 60
        err "the broker (pid $pid) was not ready after ${START_TIMEOUT}s; stopping it"
        terminate "$pid"
        rm -f "$CDS_PARTIAL"
        die "Kafka did not start (log: $LOG_FILE)"
        ;;
    esac
  done
}

# ---------------------------------------------------------------------------- stop

cmd_stop() {
  check_config
  with_lock
  local pid t0
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  t0="$(now_ms)"
  say "stopping Kafka (pid $pid) ..."
  if terminate "$pid"; then
    say "stopped in $(elapsed "$t0")"
    cds_collect
  else
    rm -f "$CDS_PARTIAL"
    say "killed after $(elapsed "$t0")"
  fi
}

cmd_status() {
  check_config
  local pid running_port
  if ! pid="$(broker_pid)"; then
    say "not running (state $STATE_DIR)"
    return 1
  fi
  # Ask the broker on the port it was started with.
  running_port="$(configured_port)"
  PORT="${running_port:-$PORT}"
  if probe 5; then
    say "running (pid $pid) on $HOST:$PORT, answering"
    return 0
  fi
  say "running (pid $pid) but not answering on $HOST:$PORT (yet)"
  return 2
}

cmd_reset() {
  cmd_stop
  # Delete only what this script puts there, so a state dir set to a shared folder by
  # mistake (ROLECALL_KAFKA_STATE=/tmp) loses nothing else.
  rm -rf "$DATA_DIR"
  rm -f "$PROPS" "$PROPS.tmp" "$PID_FILE" "$LOG_FILE" "$LOG_FILE.prev" "$LOCK_FILE" \
    "$STATE_DIR/cluster.id" "$CDS_PARTIAL" "$STATE_DIR"/hs_err_pid*.log
  rmdir "$STATE_DIR" 2>/dev/null || true
  say "deleted the broker's data, config and log in $STATE_DIR"
}

cmd_logs() {
  [[ -f "$LOG_FILE" ]] || die "no log yet at $LOG_FILE"
  if [[ "${1:-}" == "-f" ]]; then
    exec tail -n 100 -F "$LOG_FILE"
  fi
  tail -n 100 "$LOG_FILE"
}

main() {
  local cmd="${1:-}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    restart) cmd_stop; cmd_start ;;
    reset) cmd_reset ;;
    logs) cmd_logs "$@" ;;
    bootstrap) echo "$HOST:$PORT" ;;
    help | -h | --help) usage ;;
    "") usage >&2; exit 64 ;;
    *) err "unknown command '$cmd'"; usage >&2; exit 64 ;;
  esac
}

main "$@"
