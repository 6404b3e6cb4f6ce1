#!/usr/bin/env bash
# A real single-host Slurm cluster (munged + slurmctld + slurmd, one node with several CPU
# task slots) for trying deploy/slurm/sweep_array.sbatch without a cluster, and for the tests.
#
#   deploy/slurm/local-cluster.sh start    # installs slurm-wlm and munge with apt if missing (root)
#   export SLURM_CONF=/tmp/cifarsweep-slurm/slurm.conf   # what `start` prints: sbatch, squeue, ... use it
#   deploy/slurm/local-cluster.sh status
#   deploy/slurm/local-cluster.sh stop     # cancels its jobs, stops its daemons, removes its files
#
# Everything lives under $CIFARSWEEP_SLURM_DIR (default /tmp/cifarsweep-slurm): its own munge key
# and socket, slurm.conf, state and logs. The host's /etc/slurm and /etc/munge are not touched,
# and the daemons are started by pid file and stopped by pid file, so `start` and `stop` are
# idempotent and a stopped cluster leaves no process behind.
#
# Settings: CIFARSWEEP_SLURM_CPUS (task slots of the node, default 4: more than the cores is fine,
# the node is declared with SlurmdParameters=config_overrides), CIFARSWEEP_SLURM_MEMORY_MB (4096),
# CIFARSWEEP_SLURM_PORT (slurmctld's port, default 6817; slurmd's is the next one).
set -euo pipefail

DIR="${CIFARSWEEP_SLURM_DIR:-/tmp/cifarsweep-slurm}"
CPUS="${CIFARSWEEP_SLURM_CPUS:-4}"
MEMORY_MB="${CIFARSWEEP_SLURM_MEMORY_MB:-4096}"
PORT="${CIFARSWEEP_SLURM_PORT:-6817}"
CONF="$DIR/slurm.conf"
MUNGE="$DIR/munge"
NODE="$(hostname -s)"
export SLURM_CONF="$CONF"

log() { echo "local-cluster: $*" >&2; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null; then
    return
  fi
  if [[ "$(id -u)" != 0 ]]; then
    log "slurm-wlm and munge are not installed; run this as root (it uses apt-get) or install them"
    exit 1
  fi
  log "installing slurm-wlm and munge with apt-get (once)"
  # Packages must not start the system's own munge/slurm services: this cluster runs its own.
  local policy=/usr/sbin/policy-rc.d added_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  if [[ "$added_policy" == 1 ]]; then rm -f "$policy"; fi
}

write_config() {
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$MUNGE"
  chmod 700 "$MUNGE"
  if [[ ! -s "$MUNGE/munge.key" ]]; then
    dd if=/dev/urandom of="$MUNGE/munge.key" bs=1024 count=1 status=none
    chmod 600 "$MUNGE/munge.key"
  fi
  cat >"$CONF" <<EOF
# Written by deploy/slurm/local-cluster.sh: one node, CPU task slots only (no GPUs, no cgroups).
ClusterName=cifarsweep-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE/munge.socket.2
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
# Declare more task slots than cores without the node being drained for it.
SlurmdParameters=config_overrides
KillWait=10
MinJobAge=300
DefMemPerCPU=$((MEMORY_MB / CPUS))
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

pid_alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_ready() {
  local state
  state="$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null || true)"
  [[ "$state" == idle || "$state" == mix || "$state" == alloc ]]
}

start() {
  if pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid" && node_ready; then
    log "already running"
    echo "export SLURM_CONF=$CONF"
    return
  fi
  stop >/dev/null 2>&1 || true # whatever half of a cluster is left from before
  install_packages
  write_config
  munged --socket="$MUNGE/munge.socket.2" --key-file="$MUNGE/munge.key" --pid-file="$MUNGE/munged.pid" \
    --log-file="$MUNGE/munged.log" --seed-file="$MUNGE/munged.seed" --force
  slurmctld -f "$CONF" -i
  slurmd -f "$CONF"
  for _ in $(seq 1 120); do
    if node_ready; then
      log "node $NODE idle with $CPUS task slots"
      echo "export SLURM_CONF=$CONF"
      return
    fi
    sleep 0.5
  done
  log "the node did not come up; logs under $DIR/log"
  sinfo -N -l >&2 || true
  tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
  stop >/dev/null 2>&1 || true
  exit 1
}

stop_daemon() {
  local pidfile="$1"
  pid_alive "$pidfile" || return 0
  local pid
  pid="$(cat "$pidfile")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  if [[ -f "$CONF" ]] && pid_alive "$DIR/slurmctld.pid"; then
    # Jobs first: their slurmstepd processes would outlive slurmd.
    local jobs
    jobs="$(squeue -h -o %A 2>/dev/null || true)"
    if [[ -n "$jobs" ]]; then
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 60); do
        [[ -z "$(squeue -h -o %A 2>/dev/null || true)" ]] && break
        sleep 0.5
      done
    fi
  fi
  stop_daemon "$DIR/slurmd.pid"
  stop_daemon "$DIR/slurmctld.pid"
  stop_daemon "$MUNGE/munged.pid"
  rm -rf "$DIR"
  log "stopped"
}

status() {
  if [[ -f "$CONF" ]] && pid_alive "$DIR/slurmctld.pid" && pid_alive "$DIR/slurmd.pid" && node_ready; then
    sinfo -N -o "%N %t %c %m"
    echo "export SLURM_CONF=$CONF"
    return 0
  fi
  log "not running"
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
