#!/usr/bin/env bash
# (grokwatch test harness: a copy of ../shared/slurm/stop-slurm.sh)
# stop-slurm.sh - stop the daemons started by start-slurm.sh, by the PIDs in their pidfiles.
# Idempotent.  --purge also wipes Slurm state (job ids restart at 1) and the accounting DB.
set -uo pipefail
alive() {
  local pid; pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/status" ] || return 1
  grep -q "^State:[[:space:]]*Z" "/proc/$pid/status" && return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}
stop_daemon() {   # PIDFILE COMM : SIGTERM, wait up to 15 s, then SIGKILL
  local pid i; alive "$1" "$2" || { rm -f "$1"; return 0; }
  pid=$(cat "$1"); kill "$pid"
  for i in $(seq 150); do alive "$1" "$2" || break; sleep 0.1; done
  alive "$1" "$2" && { echo "$2 ($pid) ignored SIGTERM, sending SIGKILL"; kill -9 "$pid"; }
  rm -f "$1"; echo "stopped $2 ($pid)"
}

# cancel remaining jobs first so slurmd can clean up their slurmstepd processes
if alive /run/slurmctld.pid slurmctld && alive /run/slurmd.pid slurmd; then
  jobs=$(squeue -h -o %A 2>/dev/null)
  if [ -n "$jobs" ]; then
    scancel $jobs
    for i in $(seq 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
  fi
fi
stop_daemon /run/slurmd.pid slurmd
stop_daemon /run/slurmctld.pid slurmctld
stop_daemon /run/slurmdbd.pid slurmdbd
PURGE=0; [ "${1:-}" = "--purge" ] && PURGE=1
if [ $PURGE = 1 ] && alive /run/mysqld/mysqld.pid mariadbd; then
  mariadb -e "DROP DATABASE IF EXISTS slurm_acct_db" && echo "dropped accounting DB"
fi
stop_daemon /run/mysqld/mysqld.pid mariadbd
stop_daemon /run/munge/munged.pid munged

if [ $PURGE = 1 ]; then
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* && echo "purged slurm state"
fi
