#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for testing the SLURM profile end to end:
#   workflow/cluster/local-slurm.sh start    # as root: install, configure, start, wait idle
#   workflow/cluster/local-slurm.sh status   # sinfo / squeue
#   workflow/cluster/local-slurm.sh stop     # stop the daemons it started (by PID), unconfigure
# Debian's slurmctld, slurmd and munge; one node with this machine's cores and two fake GPUs
# (generic resources backed by /dev/null and /dev/zero: slurmd wants a device file per GPU) so
# that two `--gpus=1` jobs run side by side, as the two cores of a local build do, in the two
# partitions the SLURM profile names (cpu, the default, and gpu: the same node); no accounting
# database (job status by squeue); no cgroup plugins (they need a delegated cgroup tree that
# containers lack). The configuration must sit at /etc/slurm/slurm.conf: the executor plugin's
# job step strips SLURM_CONF before its nested srun. A slurm.conf this script did not write is
# never touched.
set -euo pipefail

STATE=/var/tmp/wheretolearn-slurm
CONF=/etc/slurm/slurm.conf
MARK="# written by wheretolearn workflow/cluster/local-slurm.sh"

die() { echo "local-slurm: $*" >&2; exit 1; }

ours() { [ -f "$CONF" ] && head -1 "$CONF" | grep -qF "$MARK"; }

configure() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 3 / 4 ))
    mkdir -p /etc/slurm "$STATE"/state "$STATE"/spool "$STATE"/log
    chown -R slurm:slurm "$STATE"
    cat > "$CONF" <<CONF
$MARK
ClusterName=wheretolearn-test
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
MpiDefault=none
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
MinJobAge=600
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP
CONF
    echo "$MARK" > /etc/slurm/gres.conf
    echo "NodeName=$host Name=gpu File=/dev/null" >> /etc/slurm/gres.conf
    echo "NodeName=$host Name=gpu File=/dev/zero" >> /etc/slurm/gres.conf
}

install_packages() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurmctld slurmd munge >/dev/null
}

running() {  # running PIDFILE: the daemon of that pid file is alive
    [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start() {
    [ "$(id -u)" = 0 ] || die "start needs root (it installs packages and starts daemons)"
    if ours && running "$STATE/slurmctld.pid" && running "$STATE/slurmd.pid"; then
        echo "local-slurm: already up ($(sinfo -h -o '%N %c CPUs %G'))"
        return 0
    fi
    if [ -f "$CONF" ] && ! ours; then
        die "$CONF exists and was not written by this script: this machine has a SLURM of its own"
    fi
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v munged >/dev/null; then
        echo "local-slurm: installing slurmctld, slurmd, munge"
        # a fresh machine may have no package lists yet: update once and try again
        install_packages || { apt-get update -qq && install_packages; } \
            || die "apt-get could not install slurmctld, slurmd and munge"
    fi
    configure
    mkdir -p /run/munge && chown munge:munge /run/munge
    [ -f /etc/munge/munge.key ] || die "no /etc/munge/munge.key (the munge package makes one)"
    if ! pgrep -x munged >/dev/null; then
        runuser -u munge -- munged --pid-file=/run/munge/munged.pid
        echo started > "$STATE/munged.ours"
    fi
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
            echo "local-slurm: up ($(sinfo -h -o '%N %c CPUs %G'))"
            return 0
        fi
        sleep 1
    done
    tail -5 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
    die "the node did not become idle in 60 s (logs above)"
}

stop_pid() {  # stop_pid NAME PIDFILE
    local pid
    [ -f "$2" ] || return 0
    pid=$(cat "$2")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
        echo "local-slurm: stopped $1 ($pid)"
    fi
    rm -f "$2"
}

stop() {
    if ! ours; then echo "local-slurm: no cluster of ours is configured"; return 0; fi
    stop_pid slurmd "$STATE/slurmd.pid"
    stop_pid slurmctld "$STATE/slurmctld.pid"
    if [ -f "$STATE/munged.ours" ]; then
        stop_pid munged /run/munge/munged.pid
        rm -f "$STATE/munged.ours"
    fi
    rm -f "$CONF" /etc/slurm/gres.conf
    rm -rf "$STATE/state" "$STATE/spool"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo; squeue ;;
    *) die "usage: $0 start|stop|status" ;;
esac
