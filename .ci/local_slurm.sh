#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the tests of the SLURM launcher and for trying it by hand.
#
#   bash .ci/local_slurm.sh start    install (apt, as root) what is missing, write the configs, start what is
#                                    not running: munged, MariaDB, slurmdbd, slurmctld, slurmd; wait until the
#                                    node is idle and accounting answers
#   bash .ci/local_slurm.sh stop     stop only the daemons this script started (recorded in $STATE)
#   bash .ci/local_slurm.sh status   what runs, sinfo, and whether sacct answers
#
# Idempotent: a second `start` starts nothing that runs. There is no init system here, so every daemon is
# started by hand. Facts for slurm-wlm 22.05 (Debian 12): slurmd needs `CgroupPlugin=autodetect` in
# cgroup.conf (`disabled` exists from 23.x), proctrack/linuxproc and task/none (no cgroup or systemd), and
# `CR_Core_Memory` with `DefMemPerCPU`, so that a job without --mem does not take the whole node. Without
# slurmdbd `sacct` fails and submitit never learns that a job was cancelled, so accounting is part of it.
# Configs this script writes carry the marker below; a config without it (a real cluster's) is never touched.
set -euo pipefail

MARKER="# written by experiments/.ci/local_slurm.sh"
STATE=${EXPERIMENTS_SLURM_STATE:-/run/experiments-slurm}
CLUSTER=experiments
PARTITION=debug
DB_PASS=experiments-local-only
HOST=$(hostname -s)
LOG_DIR=/var/log/slurm

say() { echo "local_slurm: $*"; }

running() { pgrep -x "$1" >/dev/null 2>&1; }

install_packages() {
    local missing=()
    for bin in munged slurmctld slurmd slurmdbd sbatch mariadbd; do
        command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$bin")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "missing ${missing[*]} and cannot install them (needs root and apt-get)"; return 1
    fi
    say "installing slurm-wlm, slurmdbd, munge, mariadb-server (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server >/dev/null
}

ours_or_absent() { [ ! -e "$1" ] || grep -qF "$MARKER" "$1"; }

write_configs() {
    local cpus mem_mb
    cpus=$(nproc)
    # Leave a tenth of the memory to the machine: a job may ask for at most this much.
    mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOG_DIR"
    if ours_or_absent /etc/slurm/slurm.conf; then
        cat >/etc/slurm/slurm.conf <<EOF
$MARKER
ClusterName=$CLUSTER
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
JobRequeue=1
KillWait=10
InactiveLimit=0
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$HOST CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
    fi
    if ours_or_absent /etc/slurm/cgroup.conf; then
        printf '%s\nCgroupPlugin=autodetect\n' "$MARKER" >/etc/slurm/cgroup.conf
    fi
    if ours_or_absent /etc/slurm/slurmdbd.conf; then
        cat >/etc/slurm/slurmdbd.conf <<EOF
$MARKER
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$LOG_DIR/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
        chmod 600 /etc/slurm/slurmdbd.conf
    fi
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2; shift 2
    for _ in $(seq $((limit * 5))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    say "$what did not come up within ${limit} s"; return 1
}

start_daemon() {  # start_daemon NAME COMMAND...: start it unless it runs; record that we did
    local name=$1; shift
    if running "$name"; then return 0; fi
    "$@"
    echo "$name" >>"$STATE/started"
}

start() {
    install_packages
    write_configs
    mkdir -p "$STATE"
    touch "$STATE/started"

    mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null || true
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
    fi
    start_daemon munged runuser -u munge -- /usr/sbin/munged
    wait_for 10 munged munge -n

    if [ ! -d /var/lib/mysql/mysql ]; then
        mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    fi
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start_daemon mariadbd bash -c 'nohup /usr/sbin/mariadbd --user=mysql >/var/log/slurm/mariadb.log 2>&1 &'
    wait_for 30 MariaDB mariadb -e 'select 1'
    mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

    start_daemon slurmdbd /usr/sbin/slurmdbd
    wait_for 30 slurmdbd sacctmgr -n list cluster
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    start_daemon slurmctld /usr/sbin/slurmctld
    wait_for 30 slurmctld scontrol ping
    start_daemon slurmd /usr/sbin/slurmd
    # A node left down or drained by an earlier stop comes back.
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    wait_for 30 "the node" node_idle
    wait_for 30 "accounting (sacct)" sacct -n -X --starttime now-1hour
    say "up: partition $PARTITION, node $HOST ($(nproc) CPUs), accounting on"
}

node_idle() { sinfo -h -N -o '%T' | grep -Eq '^(idle|mixed|allocated)'; }

stop() {
    [ -f "$STATE/started" ] || { say "nothing started by this script"; return 0; }
    # Stop in the reverse order of starting.
    for name in $(tac "$STATE/started"); do
        if running "$name"; then
            pkill -x "$name" || true
            for _ in $(seq 50); do running "$name" || break; sleep 0.2; done
            say "stopped $name"
        fi
    done
    rm -f "$STATE/started"
}

status() {
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if running "$name"; then echo "$name: running"; else echo "$name: not running"; fi
    done
    sinfo 2>&1 || true
    if sacct -n -X --starttime now-1hour >/dev/null 2>&1; then echo "accounting: answers"; else echo "accounting: no answer"; fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
