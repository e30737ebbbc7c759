#!/usr/bin/env bash
# local-slurm.sh: a real single-node Slurm on this machine, for the tests
# and for trying the sbatch script without a cluster (Debian 12, Slurm
# 22.05, as root, no systemd needed).
#
#   slurm/local-slurm.sh up       install slurmctld, slurmd, slurm-client and
#                                 munge if missing; write the config; start
#                                 munged, slurmctld, slurmd; wait for "idle"
#   slurm/local-slurm.sh down     cancel jobs, stop the daemons it started
#   slurm/local-slurm.sh status   daemons, sinfo, squeue
#
# Knobs: LOCAL_SLURM_DIR (/tmp/signsgd-slurm: state, spool, logs, PID files),
# LOCAL_SLURM_CPUS (8: advertised CPUs, may exceed the real cores so 8-task
# jobs can start; config_overrides makes slurmd accept it), LOCAL_SLURM_AUTH
# (munge | none), LOCAL_SLURM_TIMEOUT (60 s for each wait).
#
# Lessons from this kind of machine: without config_overrides a node that
# advertises more CPUs than it has goes INVAL; jobs asking for more tasks
# than CPUs pend forever (so every wait here is bounded); state survives
# restarts, so it is wiped on every "up"; munged refuses to run as root; PID
# 1 reaps late, so a killed daemon is checked in /proc/PID/status, not with
# kill -0.
set -euo pipefail

DIR=${LOCAL_SLURM_DIR:-/tmp/signsgd-slurm}
CPUS=${LOCAL_SLURM_CPUS:-8}
AUTH=${LOCAL_SLURM_AUTH:-munge}
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60}
CONF=/etc/slurm/slurm.conf
NODE=localhost
TAG="# signsgd local-slurm.sh"

say() { echo "local-slurm: $*" >&2; }
fail() { say "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || fail "needs root (it installs packages and starts daemons)"
case $AUTH in munge|none) ;; *) fail "LOCAL_SLURM_AUTH=$AUTH: want munge or none" ;; esac

# alive PID: the process exists and is not a zombie
alive() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# running PIDFILE COMM: the PID in PIDFILE is a live process named COMM
running() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(tr -cd 0-9 < "$1")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && alive "$pid"
}

# stop PIDFILE COMM: TERM, up to 20 s, then KILL; only the PID we recorded
stop() {
  local pid i
  if ! running "$1" "$2"; then rm -f "$1"; return 0; fi
  pid=$(tr -cd 0-9 < "$1")
  say "stopping $2 (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 40); do alive "$pid" || break; sleep 0.5; done
  alive "$pid" && { say "$2 ignored TERM; killing"; kill -KILL "$pid" 2>/dev/null || true; }
  rm -f "$1"
}

# until_ok WHAT CMD...: retry CMD every 0.5 s for up to TIMEOUT seconds
until_ok() {
  local what=$1 end=$((SECONDS + TIMEOUT))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { say "$what: not after ${TIMEOUT}s"; return 1; }
    sleep 0.5
  done
  say "$what: ok"
}

logs() {
  local f
  for f in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" /var/log/munge/munged.log; do
    [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 20 "$f" >&2; }
  done
  return 0
}

state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1; }
idle() { [ "$(state)" = idle ]; }
munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

install_packages() {
  local b need=0
  for b in slurmctld slurmd sbatch srun sinfo munged; do command -v "$b" >/dev/null || need=1; done
  [ $need = 1 ] || return 0
  say "installing slurmctld slurmd slurm-client munge"
  # No init system here: keep the packages' postinst from starting daemons.
  local guard=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && guard=1
  fi
  local rc=0 apt="apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends"
  DEBIAN_FRONTEND=noninteractive $apt install slurmctld slurmd slurm-client munge \
    || { apt-get -o DPkg::Lock::Timeout=600 -q update && DEBIAN_FRONTEND=noninteractive $apt install slurmctld slurmd slurm-client munge; } \
    || rc=$?
  [ $guard = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $rc = 0 ] || fail "apt-get install failed ($rc)"
}

start_munge() {
  [ "$AUTH" = munge ] || return 0
  if munge_works; then say "munged already answers"; return 0; fi
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
  install -d -o munge -g munge -m 0711 /var/lib/munge
  install -d -o munge -g munge -m 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
      || head -c 1024 /dev/urandom > /etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged
  until_ok "munged" munge_works || { logs; fail "munged did not start"; }
  cp /run/munge/munged.pid "$DIR/munged.pid"
  touch "$DIR/munged.ours"
}

write_config() {
  mkdir -p /etc/slurm "$DIR/log"
  if [ -f "$CONF" ] && ! grep -qF "$TAG" "$CONF" && [ ! -e "$CONF.before-signsgd" ]; then
    say "keeping the existing $CONF as $CONF.before-signsgd"
    cp -p "$CONF" "$CONF.before-signsgd"
  fi
  local auth=auth/munge cred=cred/munge
  [ "$AUTH" = none ] && { auth=auth/none; cred=cred/none; }
  cat > "$CONF.new" <<CONFIG
$TAG
ClusterName=signsgd
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=$auth
CredType=$cred
# A requeued job may start again once its old credentials expired: 10 s
# here rather than the default 120 s, so the requeue test stays short.
AuthInfo=cred_expire=10
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONFIG
  mv -f "$CONF.new" "$CONF"
  chmod 0644 "$CONF"
}

up() {
  mkdir -p "$DIR/log"
  install_packages
  start_munge
  if running "$DIR/slurmctld.pid" slurmctld && running "$DIR/slurmd.pid" slurmd && idle; then
    say "already up"
    return 0
  fi
  stop "$DIR/slurmd.pid" slurmd
  stop "$DIR/slurmctld.pid" slurmctld
  write_config
  rm -rf "$DIR/state" "$DIR/spool"
  mkdir -p "$DIR/state" "$DIR/spool"
  slurmctld || { logs; fail "slurmctld did not start"; }
  until_ok "slurmctld" sh -c 'scontrol ping | grep -q UP' || { logs; fail "slurmctld does not answer"; }
  slurmd -N "$NODE" || { logs; fail "slurmd did not start"; }
  if ! until_ok "node $NODE idle" idle; then
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    until_ok "node $NODE idle after resume" idle || { sinfo -N -l >&2 || true; logs; fail "node is $(state)"; }
  fi
}

down() {
  if running "$DIR/slurmctld.pid" slurmctld; then
    timeout 10 scancel --quiet --partition=debug >/dev/null 2>&1 || true
    local end=$((SECONDS + 15))
    while [ $SECONDS -lt $end ] && [ -n "$(squeue -h 2>/dev/null)" ]; do sleep 0.5; done
  fi
  stop "$DIR/slurmd.pid" slurmd
  stop "$DIR/slurmctld.pid" slurmctld
  if [ -f "$DIR/munged.ours" ]; then
    stop "$DIR/munged.pid" munged
    rm -f "$DIR/munged.ours"
  fi
  say "down"
}

status() {
  local d
  for d in slurmctld slurmd munged; do
    if running "$DIR/$d.pid" "$d"; then echo "$d: pid $(cat "$DIR/$d.pid")"; else echo "$d: not running"; fi
  done
  sinfo -N -o '%N %T %c %E' 2>&1 || true
  squeue 2>&1 || true
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
