#!/usr/bin/env bash
# The tiny pipeline on a REAL single-node SLURM cluster brought up on this machine.
#
#   bash tests/integration/slurm/run.sh        (as root; a slice of the tiny DAG, see TARGETS;
#                                               SLURM_TEST_TARGETS=all for the whole of it)
#
# 1. installs Debian's slurmctld, slurmd, slurm-client and munge when missing;
# 2. writes a single-node slurm.conf for `hostname -s` (no cgroups, no accounting) in a
#    temp dir, starts munged (unless one answers already), slurmctld and slurmd, and waits
#    until sinfo shows the node idle;
# 3. copies workflow/, config/ and tests/data/tiny.yaml twice into the temp dir (the
#    repo's results/ is never touched) and runs the tiny config's TARGETS there twice: with
#    `--profile workflow/profiles/slurm` (every job an sbatch job) and locally;
# 4. checks that every non-local job went through SLURM (a SLURM job id per job in the
#    Snakemake log, a SLURM log file per id, state COMPLETED in scontrol, no GPU asked
#    for on this CPU config) and that score files, subsets, retrain results, labels,
#    dynamics and the accuracy tables have the same sha256 as in the local run;
# 5. stops the daemons it started, by pid.
# Exit 0 only if all of that holds; SLURM failing to start is a failure, never a skip.
#
# Environment: SNAKEMAKE (default: snakemake on PATH; its folder is put first on PATH so
# jobs find the same snakemake and prunebench), SLURM_TEST_TIMEOUT (s, per pipeline run,
# default 2400), SLURM_TEST_PORT (slurmctld port, slurmd uses +1; default 16817, off the
# standard 6817 so a site SLURM is never touched), KEEP_TMP=1 keeps the temp dir.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
TIMEOUT=${SLURM_TEST_TIMEOUT:-2400}
PORT=${SLURM_TEST_PORT:-16817}
T0=$(date +%s)

say() { printf '[slurm-test %4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { say "FAIL: $*"; exit 1; }

# ---------------------------------------------------------------- tools
export PATH="$PATH:/usr/sbin:/sbin"   # the daemons live there
SNAKEMAKE=${SNAKEMAKE:-$(command -v snakemake || true)}
[ -n "$SNAKEMAKE" ] && [ -x "$SNAKEMAKE" ] || die "snakemake not found (activate the venv or set SNAKEMAKE)"
BIN=$(cd "$(dirname "$SNAKEMAKE")" && pwd)
export PATH="$BIN:$PATH"   # sbatch --export=ALL: jobs inherit this PATH
command -v prunebench >/dev/null || die "prunebench is not on PATH next to $SNAKEMAKE"
"$BIN/python" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
  || die "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"

missing=()
for b in slurmctld slurmd sbatch squeue sinfo scontrol munged munge unmunge; do
  command -v "$b" >/dev/null 2>&1 || missing+=("$b")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "missing ${missing[*]}: installing slurmctld slurmd slurm-client munge"
  [ "$(id -u)" = 0 ] || die "SLURM is not installed and this is not root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
    || die "apt-get install failed"
fi
[ "$(id -u)" = 0 ] || die "slurmd must run as root"

# ---------------------------------------------------------------- temp dir, cleanup
WORK=$(mktemp -d /tmp/prunebench-slurm.XXXXXX)
STARTED_PIDS=()
CONF="$WORK/etc/slurm.conf"
LOCAL_PID=""
SYS_CONF=/etc/slurm/slurm.conf
SYS_BACKUP=/etc/slurm/slurm.conf.prunebench-test-backup
cleanup() {
  local rc=$?
  set +e
  if [ -n "$LOCAL_PID" ] && kill -0 "$LOCAL_PID" 2>/dev/null; then
    kill "$LOCAL_PID" 2>/dev/null   # timeout passes it on to Snakemake
    for _ in $(seq 100); do kill -0 "$LOCAL_PID" 2>/dev/null || break; sleep 0.2; done
  fi
  if [ -f "$CONF" ] && [ -f "$WORK/run/slurmctld.pid" ]; then
    # our private cluster only (own SLURM_CONF and ports): cancel what a failed run left
    ids=$(SLURM_CONF="$CONF" squeue -h -t PD,R,CG -o %i 2>/dev/null)
    [ -n "$ids" ] && SLURM_CONF="$CONF" scancel $ids 2>/dev/null && sleep 2
  fi
  for pidfile in "$WORK/run/slurmd.pid" "$WORK/run/slurmctld.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  for pid in "${STARTED_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for _ in $(seq 50); do
    alive=0
    for pidfile in "$WORK/run/slurmd.pid" "$WORK/run/slurmctld.pid"; do
      [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && alive=1
    done
    for pid in "${STARTED_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  [ "$(readlink /run/slurm/conf 2>/dev/null)" = "$WORK/spool/conf-cache" ] && rm -f /run/slurm/conf
  [ -f "$SYS_BACKUP" ] && mv -f "$SYS_BACKUP" "$SYS_CONF" && say "restored $SYS_CONF"
  if [ $rc != 0 ]; then
    for f in "$WORK/log/slurmctld.log" "$WORK/log/slurmd.log"; do
      [ -f "$f" ] && { echo "---- tail $f"; tail -n 20 "$f"; }
    done
  fi
  if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
  say "daemons stopped; exit $rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK"/{etc,state,spool,log,run}

# ---------------------------------------------------------------- munge
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "munged already answers: using it"
else
  [ -s /etc/munge/munge.key ] || {
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; fi
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
  }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  MUNGE_PID=/run/munge/munged.pid   # the munge user cannot enter the 0700 temp dir
  rm -f "$MUNGE_PID"
  runuser -u munge -- munged --pid-file="$MUNGE_PID" || die "munged did not start"
  for _ in $(seq 50); do [ -s "$MUNGE_PID" ] && break; sleep 0.1; done
  STARTED_PIDS+=("$(cat "$MUNGE_PID")")
  munge -n | unmunge >/dev/null || die "munge -n | unmunge fails"
  say "started munged (pid ${STARTED_PIDS[0]})"
fi

# ---------------------------------------------------------------- slurm.conf
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/^MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
cat >"$CONF" <<EOF
# prunebench SLURM test: one node, no cgroups, no accounting (written by run.sh)
ClusterName=prunebench
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# finished jobs stay visible to squeue/scontrol: the executor's squeue status query needs
# >= 3 x its first-check delay; the checks below read them after the run
MinJobAge=3600
MailProg=/bin/true
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
# Configless: slurmd fetches this file from slurmctld and caches it under /run/slurm/conf,
# where srun inside the jobs finds it (the executor's job step drops SLURM_* variables,
# SLURM_CONF included, before calling srun). A system /etc/slurm/slurm.conf would take
# precedence there, so one is moved aside while the test runs and restored afterwards.
echo "SlurmctldParameters=enable_configless" >>"$CONF"
if [ -e "$SYS_CONF" ]; then
  mv "$SYS_CONF" "$SYS_BACKUP" && say "moved $SYS_CONF aside (restored at exit)"
fi
export SLURM_CONF="$CONF"   # clients and the executor plugin read it

slurmctld -f "$CONF" -c || die "slurmctld did not start"
slurmd --conf-server "127.0.0.1:$PORT" -N "$HOST" || die "slurmd did not start"
state=""
for _ in $(seq 120); do
  state=$(sinfo -h -N -n "$HOST" -o %T 2>/dev/null | head -n1 || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || die "node $HOST is '${state:-unknown}' after 60 s, not idle"
say "SLURM up: node $HOST idle, $CPUS CPUs, ${MEM} MB (slurmctld pid $(cat "$WORK/run/slurmctld.pid"), slurmd pid $(cat "$WORK/run/slurmd.pid"))"

# ---------------------------------------------------------------- the two runs
prep() {
  mkdir -p "$1"
  cp -r "$ROOT/workflow" "$ROOT/config" "$1/"
  cp "$ROOT/tests/data/tiny.yaml" "$1/tiny.yaml"
  rm -rf "$1/workflow/.snakemake" "$1/results" "$1/data"
}
prep "$WORK/local"
prep "$WORK/slurm"
export PYTHONHASHSEED=0
# A slice of the tiny DAG that has every kind of cluster job (fetch, noise, surrogate, a partitioned
# surrogate variant, score, solve, retrain, full-data reference, the agreement study): each SLURM job
# costs ~10 s of scheduling and a nested Snakemake start, so the whole tiny DAG would take ~15 min.
# The local pipeline tests run the whole tiny DAG. SLURM_TEST_TARGETS=all runs it all here too.
R=results/tiny/digits/clean/retrain/cnn_small
TARGETS=(
  $R/el2n/keep/r0.50/cnn_small/seed{0,1}.json
  $R/moso-part2/classeq/r0.50/cnn_small/seed{0,1}.json
  $R/optprune/solver/r0.50/cnn_small/seed{0,1}.json
  $R/full/all/r0.00/cnn_small/seed{0,1}.json
  results/tiny/tables/moso_agreement.csv
)
[ "${SLURM_TEST_TARGETS:-}" = all ] && TARGETS=()
CFG=("${TARGETS[@]}" --configfile tiny.yaml)   # as tests/conftest.py runs it (targets before --configfile)

say "local reference run (background)"
( cd "$WORK/local" && exec timeout "$TIMEOUT" "$SNAKEMAKE" --cores 1 "${CFG[@]}" >local.log 2>&1 ) &
LOCAL_PID=$!

say "SLURM run: snakemake --profile workflow/profiles/slurm ${CFG[*]}"
T1=$(date +%s)
rc=0
# --retries 0: a failure here is a failure (the profile's retry would double the memory asked for)
( cd "$WORK/slurm" && exec timeout "$TIMEOUT" "$SNAKEMAKE" --profile workflow/profiles/slurm "${CFG[@]}" \
    --slurm-status-command squeue --slurm-init-seconds-before-status-checks 5 --jobs 8 --retries 0 \
    >slurm.log 2>&1 ) || rc=$?
say "SLURM run finished in $(($(date +%s) - T1)) s (rc $rc)"
if [ $rc != 0 ]; then
  tail -n 60 "$WORK/slurm/slurm.log"
  [ $rc = 124 ] && die "SLURM run timed out after $TIMEOUT s" || die "SLURM run failed (rc $rc)"
fi
lrc=0
wait "$LOCAL_PID" || lrc=$?
if [ $lrc != 0 ]; then tail -n 40 "$WORK/local/local.log"; die "local run failed (rc $lrc)"; fi
say "local run done"

# ---------------------------------------------------------------- checks: jobs went through SLURM
LOG="$WORK/slurm/slurm.log"
mapfile -t IDS < <(sed -n 's/.*has been submitted with SLURM jobid \([0-9][0-9]*\).*/\1/p' "$LOG")
# every job Snakemake ran that is not a local rule (printed "localrule X:") must be a SLURM job
EXPECT=$(grep -c '^rule [A-Za-z0-9_]*:' "$LOG" || true)
NLOCAL=$(grep -c '^localrule [A-Za-z0-9_]*:' "$LOG" || true)
[ "$EXPECT" -ge 10 ] || die "only $EXPECT non-local jobs in the Snakemake log"
[ "${#IDS[@]}" -eq "$EXPECT" ] || die "${#IDS[@]} SLURM job ids in the log, expected $EXPECT"
grep -q "Using profiles workflow/profiles/slurm" "$LOG" || die "the slurm profile was not used"
bad=0
for id in "${IDS[@]}"; do
  logf=$(find "$WORK/slurm/.snakemake/slurm_logs" -name "$id.log" | head -n1)
  [ -n "$logf" ] || { say "job $id: no SLURM log file"; bad=1; continue; }
  info=$(scontrol -o show job "$id" 2>/dev/null || true)
  st=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$info")
  [ "$st" = COMPLETED ] || { say "job $id: state '${st:-not found}'"; bad=1; }
  grep -qi 'gres/gpu\|TresPerNode=gres:gpu\|TresPerJob=gres:gpu' <<<"$info" \
    && { say "job $id asked for a GPU on a CPU config"; bad=1; }
done
[ $bad = 0 ] || die "some SLURM jobs are not as expected"
RULES=$(find "$WORK/slurm/.snakemake/slurm_logs" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sed 's/^rule_//' | sort | tr '\n' ' ')
say "${#IDS[@]} jobs ran as SLURM jobs ${IDS[0]}..${IDS[-1]} ($NLOCAL local), all COMPLETED, none asked for a GPU; rules: $RULES"
first=$(find "$WORK/slurm/.snakemake/slurm_logs" -name "${IDS[0]}.log" | head -n1)
say "e.g. ${first#"$WORK"/slurm/}"

# ---------------------------------------------------------------- checks: same bytes as the local run
contract() {
  ( cd "$1/results" && find . -type f \
      \( -path '*/scores/*' -o -path '*/subsets/*' -o -path '*/retrain/*' -o -name labels.npz \
         -o -name dynamics.npz -o -path '*/tables/retrain.csv' -o -path '*/tables/accuracy.csv' \) \
      ! -name '*.timing.json' ! -path '*/logs/*' ! -path '*/benchmarks/*' -print0 \
    | sort -z | xargs -0 sha256sum )
}
contract "$WORK/local" >"$WORK/local.sha256"
contract "$WORK/slurm" >"$WORK/slurm.sha256"
n=$(wc -l <"$WORK/local.sha256")
[ "$n" -ge 20 ] || die "only $n contract files in the local run"
for kind in scores subsets retrain; do
  grep -q "/$kind/" "$WORK/local.sha256" || die "no $kind files in the local run"
done
if ! diff -u "$WORK/local.sha256" "$WORK/slurm.sha256" >"$WORK/sha.diff"; then
  head -n 40 "$WORK/sha.diff"
  die "SLURM and local outputs differ"
fi
say "$n contract files (scores, subsets, retrain results, labels, dynamics, tables) byte-identical to the local run"
say "PASS in $(($(date +%s) - T0)) s"
