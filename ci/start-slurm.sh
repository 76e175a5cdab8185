#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (munged + slurmctld + slurmd), for the
# `slurm`-marked tests and for developers who want a real scheduler on their workstation.
#
#   sudo bash ci/start-slurm.sh          # start (or check) the cluster, print `sinfo`
#   sudo bash ci/start-slurm.sh --stop   # stop the daemons this script started
#
# Needs root and the Debian packages `slurm-wlm` and `munge` (apt-get install slurm-wlm munge);
# no systemd is required (daemons are started directly). Idempotent: when the daemons already
# run with the same configuration, nothing is restarted; when /etc/slurm/slurm.conf would
# change, slurmctld and slurmd are restarted with the new file.
#
# Environment overrides: SLURM_CLUSTER_NAME (default nephlab), SLURM_PARTITION (default debug),
# SLURM_MAX_TIME (default 60, minutes), SLURM_MEM_MARGIN_MB (memory kept back from the node's
# total, default max(512, 5% of total)), SLURM_WAIT_S (default 60).
set -euo pipefail

CLUSTER_NAME="${SLURM_CLUSTER_NAME:-nephlab}"
PARTITION="${SLURM_PARTITION:-debug}"
MAX_TIME="${SLURM_MAX_TIME:-60}"
WAIT_S="${SLURM_WAIT_S:-60}"

CONF_DIR=/etc/slurm
CONF="$CONF_DIR/slurm.conf"
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
LOG_DIR=/var/log/slurm
RUN_DIR=/run/slurm
CTLD_PID="$RUN_DIR/slurmctld.pid"
SLURMD_PID="$RUN_DIR/slurmd.pid"
MUNGE_KEY=/etc/munge/munge.key
MUNGE_RUN=/run/munge

log() { printf '[start-slurm] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$(id -u)" == 0 ]] || die "must run as root (try: sudo bash $0)"
for b in munged munge unmunge slurmctld slurmd sinfo scontrol; do
    command -v "$b" >/dev/null 2>&1 || die "'$b' not found; install with: apt-get install slurm-wlm munge"
done

# pid_alive FILE NAME: the pid in FILE is a running process whose command name is NAME.
pid_alive() {
    local pid
    [[ -s "$1" ]] || return 1
    pid="$(cat "$1")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/comm" ]] || return 1
    [[ "$(cat "/proc/$pid/comm")" == "$2"* ]]
}

# stop_pidfile FILE NAME: SIGTERM the daemon recorded in FILE (only if it is NAME), wait <= 15 s.
stop_pidfile() {
    local pid i
    pid_alive "$1" "$2" || { rm -f "$1"; return 0; }
    pid="$(cat "$1")"
    log "stopping $2 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do
        [[ -d "/proc/$pid" ]] || break
        sleep 0.5
    done
    if [[ -d "/proc/$pid" ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    rm -f "$1"
}

if [[ "${1:-}" == "--stop" ]]; then
    stop_pidfile "$SLURMD_PID" slurmd
    stop_pidfile "$CTLD_PID" slurmctld
    exit 0
elif [[ $# -gt 0 ]]; then
    die "unknown argument '$1'; usage: bash $0 [--stop]"
fi

# --- munge -----------------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 "$MUNGE_RUN"
if [[ ! -s "$MUNGE_KEY" ]]; then
    log "creating $MUNGE_KEY"
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile="$MUNGE_KEY" --force
    else
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
    fi
fi
chown munge:munge "$MUNGE_KEY"
chmod 0400 "$MUNGE_KEY"

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_ok; then
    log "munged already running"
else
    log "starting munged"
    rm -f "$MUNGE_RUN/munge.socket.2" "$MUNGE_RUN/munge.socket.2.lock" "$MUNGE_RUN/munged.pid"
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 1 20); do munge_ok && break; sleep 0.25; done
    munge_ok || die "munged did not start (see /var/log/munge/munged.log)"
fi

# --- slurm.conf ------------------------------------------------------------------------------
HOST="$(hostname -s)"
CPUS="$(nproc)"
MEM_TOTAL_MB="$(free -m | awk '/^Mem:/ {print $2}')"
[[ "$MEM_TOTAL_MB" =~ ^[0-9]+$ ]] || die "could not read total memory from 'free -m'"
MARGIN_MB="${SLURM_MEM_MARGIN_MB:-$(( MEM_TOTAL_MB / 20 > 512 ? MEM_TOTAL_MB / 20 : 512 ))}"
REAL_MEM_MB=$(( MEM_TOTAL_MB - MARGIN_MB ))
(( REAL_MEM_MB > 0 )) || die "total memory ${MEM_TOTAL_MB} MB is below the margin ${MARGIN_MB} MB"

install -d -m 0755 "$CONF_DIR" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR" "$RUN_DIR"

NEW_CONF="$(mktemp)"
trap 'rm -f "$NEW_CONF"' EXIT
cat >"$NEW_CONF" <<EOF
# Written by nephlab ci/start-slurm.sh: a one-node cluster for tests and development.
ClusterName=$CLUSTER_NAME
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=3600
Waittime=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES OverSubscribe=FORCE MaxTime=$MAX_TIME State=UP
EOF

CHANGED=0
if [[ ! -f "$CONF" ]] || ! cmp -s "$NEW_CONF" "$CONF"; then
    log "writing $CONF (NodeName=$HOST CPUs=$CPUS RealMemory=$REAL_MEM_MB)"
    install -m 0644 "$NEW_CONF" "$CONF"
    CHANGED=1
fi
# proctrack/linuxproc + task/none need no cgroup.conf; none is written.

# --- daemons ---------------------------------------------------------------------------------
if (( CHANGED )); then
    stop_pidfile "$SLURMD_PID" slurmd
    stop_pidfile "$CTLD_PID" slurmctld
fi
if pid_alive "$CTLD_PID" slurmctld; then
    log "slurmctld already running (pid $(cat "$CTLD_PID"))"
else
    log "starting slurmctld"
    slurmctld
fi
if pid_alive "$SLURMD_PID" slurmd; then
    log "slurmd already running (pid $(cat "$SLURMD_PID"))"
else
    log "starting slurmd"
    slurmd
fi

# --- wait for the node -----------------------------------------------------------------------
deadline=$(( SECONDS + WAIT_S ))
state=""
while (( SECONDS < deadline )); do
    state="$(sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle | mixed | allocated | completing) break ;;
        down* | drain* | *drained*)
            # e.g. left down by an earlier unclean stop; ReturnToService=2 usually handles it.
            scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 1
done
case "$state" in
    idle | mixed | allocated | completing) ;;
    *) log "node $HOST not ready after ${WAIT_S} s (state: '${state:-none}')"
       tail -n 20 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
       exit 1 ;;
esac
log "node $HOST is $state"
sinfo
