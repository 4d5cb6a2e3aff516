#!/usr/bin/env bash
# (grokwatch test harness: a copy of ../shared/slurm/start-slurm.sh; SLURM_FAKE_GPUS=2 in tests)
# start-slurm.sh: idempotent single-node Slurm 22.05 for CI (Debian 12, root, no systemd).
# Installs what is missing, rewrites configs, starts daemons that are not running,
# restarts slurmctld/slurmd when a config changed.
#   SLURM_ACCOUNTING=1 (default) slurmdbd+MariaDB so sacct works (submitit needs it); 0 = none
#   SLURM_FAKE_GPUS=N  (default 0) advertise N fake gres/gpu (dummy char devices)
set -euo pipefail
ACCOUNTING=${SLURM_ACCOUNTING:-1}; FAKE_GPUS=${SLURM_FAKE_GPUS:-0}
CLUSTER=ci; LOGDIR=/var/log/slurm; T0=$(date +%s%N)
log() { echo "[start-slurm $(( ($(date +%s%N) - T0) / 1000000 ))ms] $*"; }
alive() {  # PIDFILE COMM: live (non-zombie) process with that name
  local pid; pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && [ -r /proc/$pid/status ] || return 1
  ! grep -q '^State:[[:space:]]*Z' /proc/$pid/status && [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$2" ]
}
stop_daemon() {  # PIDFILE COMM: TERM, wait 15 s, KILL
  alive "$1" "$2" || { rm -f "$1"; return 0; }
  local pid; pid=$(cat "$1"); kill "$pid"
  for _ in $(seq 150); do alive "$1" "$2" || break; sleep 0.1; done
  alive "$1" "$2" && kill -9 "$pid"; rm -f "$1"
}
wait_for() {  # SECONDS CMD...: poll every 0.1 s
  local n=$(( $1 * 10 )); shift
  until "$@" >/dev/null 2>&1; do n=$((n - 1)); [ $n -gt 0 ] || return 1; sleep 0.1; done
}
update_file() {  # NEW DST MODE: install NEW over DST if different; true if changed
  if cmp -s "$1" "$2"; then rm -f "$1"; return 1; fi; install -m "$3" "$1" "$2"; rm -f "$1"
}
fail() { echo "start-slurm: $1 failed"; tail -20 "$2"; exit 1; }

# 1. packages (policy-rc.d keeps maintainer scripts from starting services)
PKGS="slurmctld slurmd slurm-client munge"; [ "$ACCOUNTING" = 1 ] && PKGS="$PKGS slurmdbd mariadb-server"
MISSING=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' $p 2>/dev/null | grep -q 'ok installed' || echo $p; done)
if [ -n "$MISSING" ]; then
  TMP_POLICY=0; [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; TMP_POLICY=1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $MISSING >/dev/null
  [ $TMP_POLICY = 1 ] && rm -f /usr/sbin/policy-rc.d
  log "installed: $(echo $MISSING)"
fi

# 2. munge (Debian's postinst normally creates the key)
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
if ! alive /run/munge/munged.pid munged; then
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 sh -c 'munge -n | unmunge' || fail munged /var/log/munge/munged.log
  log "munged started"
fi

# 3. config
HOST=$(uname -n); HOST=${HOST%%.*}
MEM_MB=$(( $(awk '/^MemTotal:/{print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
install -d -m 0755 /etc/slurm /var/spool/slurmctld /var/spool/slurmd $LOGDIR
if [ "$ACCOUNTING" = 1 ]; then
  ACCT=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nJobAcctGatherType=jobacct_gather/linux'
else ACCT=$'AccountingStorageType=accounting_storage/none\nJobAcctGatherType=jobacct_gather/none'; fi
GRES=""; [ "$FAKE_GPUS" -gt 0 ] && GRES="Gres=gpu:$FAKE_GPUS " && ACCT+=$'\nGresTypes=gpu'
cat > /etc/slurm/slurm.conf.new <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
$ACCT
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.log
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM_MB ${GRES}State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
CHANGED=0; update_file /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf 0644 && CHANGED=1
if [ "$FAKE_GPUS" -gt 0 ]; then  # slurmd wants char devices: clone /dev/null
  for i in $(seq 0 $((FAKE_GPUS - 1))); do [ -c /var/spool/slurmd/fakegpu$i ] || mknod /var/spool/slurmd/fakegpu$i c 1 3; done
  echo "Name=gpu File=/var/spool/slurmd/fakegpu[0-$((FAKE_GPUS - 1))]" > /etc/slurm/gres.conf.new
  update_file /etc/slurm/gres.conf.new /etc/slurm/gres.conf 0644 && CHANGED=1
elif [ -e /etc/slurm/gres.conf ]; then rm -f /etc/slurm/gres.conf; CHANGED=1; fi

# 4. accounting: MariaDB (unix socket only) + slurmdbd
if [ "$ACCOUNTING" = 1 ]; then
  install -d -o mysql -g mysql -m 0755 /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
  if ! mariadb-admin ping --silent >/dev/null 2>&1; then
    setsid mariadbd --user=mysql --skip-networking --pid-file=/run/mysqld/mysqld.pid </dev/null >>$LOGDIR/mariadb.log 2>&1 &
    wait_for 30 mariadb-admin ping --silent || fail mariadbd $LOGDIR/mariadb.log
    log "mariadbd started"
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-ci';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  cat > /etc/slurm/slurmdbd.conf.new <<EOF
DbdHost=localhost
SlurmUser=root
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageUser=slurm
StoragePass=slurm-ci
StorageLoc=slurm_acct_db
EOF
  update_file /etc/slurm/slurmdbd.conf.new /etc/slurm/slurmdbd.conf 0600 && stop_daemon /run/slurmdbd.pid slurmdbd
  if ! alive /run/slurmdbd.pid slurmdbd; then
    slurmdbd
    wait_for 30 sacctmgr -n list cluster || fail slurmdbd $LOGDIR/slurmdbd.log
    log "slurmdbd started"
  fi
  sacctmgr -n -P list cluster format=cluster | grep -qx $CLUSTER || sacctmgr -i add cluster $CLUSTER >/dev/null
fi

# 5. slurmctld + slurmd (both daemonize and write their pidfiles)
if [ $CHANGED = 1 ]; then stop_daemon /run/slurmd.pid slurmd; stop_daemon /run/slurmctld.pid slurmctld; fi
STARTED=0
if ! alive /run/slurmctld.pid slurmctld; then
  slurmctld; STARTED=1
  wait_for 30 scontrol ping || fail slurmctld $LOGDIR/slurmctld.log
  log "slurmctld started"
fi
if ! alive /run/slurmd.pid slurmd; then
  slurmd -N "$HOST"; STARTED=1
  wait_for 10 alive /run/slurmd.pid slurmd || fail slurmd $LOGDIR/slurmd.log
  log "slurmd started"
fi
node_ready() {  # also resumes a node left DOWN/DRAINED by an earlier run
  case "$(sinfo -h -n "$HOST" -o %T)" in
    idle|mixed|allocated) return 0 ;;
    *drain*|down) scontrol update nodename="$HOST" state=resume ;;
  esac; return 1
}
wait_for 30 node_ready || { scontrol show node "$HOST"; fail "node registration" $LOGDIR/slurmd.log; }
if [ $STARTED = 1 ]; then timeout 60 srun -t 1 true || fail "srun smoke test" $LOGDIR/slurmd.log; fi
log "cluster ready: $(sinfo -h -o '%P %T %N')"
