#!/usr/bin/env bash
# The physical floor: the steps agentvisor takes for a graph of trivial tasks, done directly with git
# and docker, with no Temporal, no Node and no bookkeeping.
#
#   bench/baseline.sh REPO RUN_ID SHAPE N WORKDIR [MAX_PARALLEL]
#
# SHAPE is `parallel` (N independent tasks, all at once), `chain` (N tasks, each after the one before)
# or `fan` (one root, N-2 tasks after it at once, one sink after all of them). Per task, as agentvisor:
#   git worktree add -b <task branch> <worktree> <base>   (+ git merge --no-ff of each dependency)
#   chown the worktree to the agent's uid (when run as root)
#   docker run with the same hardening as runtimes/docker.ts createOptions, the worktree at /workspace
#   git add --all, git commit as the agent
#   git worktree remove
# (worktree add and remove hold a lock: see gl below)
# then, once every task is done: an integration branch at the base commit, checked out in a worktree of
# its own, every task branch merged into it with --no-ff in graph order, the worktree removed.
#
# Every step is timed: WORKDIR/trace.tsv gets `task <tab> step <tab> start_ns <tab> end_ns` lines.
# Containers carry the label org.agentvisor.bench=RUN_ID so the caller can watch and clean them up.
set -euo pipefail

REPO=$1 RUN=$2 SHAPE=$3 N=$4 WORK=$5 MAXPAR=${6:-0}
IMAGE=${BENCH_IMAGE:-agentvisor/base:latest}
BASE=${BENCH_BASE_BRANCH:-main}
COMMAND=${BENCH_COMMAND:-'touch "t-$AGENTVISOR_TASK"'}
TRACE=$WORK/trace.tsv
mkdir -p "$WORK/worktrees" "$WORK/logs"
: >"$TRACE"

if [ "$(id -u)" = 0 ]; then AGENT_UID=1000 AGENT_GID=1000; else AGENT_UID=$(id -u) AGENT_GID=$(id -g); fi
TMPFS_OPTS="rw,exec,nosuid,nodev,size=512m,mode=0755,uid=$AGENT_UID,gid=$AGENT_GID"
g() { git -c safe.directory='*' -c user.name=agentvisor -c user.email=agentvisor@localhost "$@"; }
# Concurrent `git worktree add/remove` in one repository race (git 2.39: "failed to read
# .git/worktrees/X/commondir"), so those two are serialised with a lock; they take milliseconds.
LOCK=$WORK/worktrees.lock
gl() { flock "$LOCK" git -c safe.directory='*' "$@"; }
now() { date +%s%N; }
step() { # task step command...
  local t=$1 s=$2 a b
  shift 2
  a=$(now)
  "$@"
  b=$(now)
  printf '%s\t%s\t%s\t%s\n' "$t" "$s" "$a" "$b" >>"$TRACE"
}

BASE_COMMIT=$(g -C "$REPO" rev-parse "$BASE^{commit}")
branch() { echo "bench-tasks/$RUN/$1"; }

task() { # id dep...
  local id=$1 wt=$WORK/worktrees/$1 b
  shift
  b=$(branch "$id")
  step "$id" worktree gl -C "$REPO" worktree add -q -b "$b" "$wt" "$BASE_COMMIT"
  for dep in "$@"; do
    step "$id" merge-deps g -C "$wt" merge -q --no-ff --no-edit -m "start from $dep" "$(branch "$dep")"
  done
  if [ "$(id -u)" = 0 ]; then step "$id" chown chown -R "$AGENT_UID:$AGENT_GID" "$wt"; fi
  step "$id" container docker run --rm --name "bench-$RUN-$id" \
    --label "org.agentvisor.bench=$RUN" --label "org.agentvisor.bench.task=$id" \
    --read-only --cap-drop ALL --security-opt no-new-privileges --pids-limit 512 --network none \
    --tmpfs "/home/agent:$TMPFS_OPTS" --tmpfs "/tmp:$TMPFS_OPTS" \
    --user "$AGENT_UID:$AGENT_GID" --init \
    -v "$wt:/workspace:rw" -w /workspace \
    -e HOME=/home/agent -e AGENTVISOR_TASK="$id" -e AGENTVISOR_AGENT=a -e AGENTVISOR_GRAPH="$RUN" -e AGENTVISOR_PROMPT= \
    "$IMAGE" sh -c "$COMMAND" >"$WORK/logs/$id.log" 2>&1
  step "$id" commit sh -c 'g() { git -c safe.directory="*" "$@"; }; g -C "$1" add --all && { g -C "$1" diff --cached --quiet || g -C "$1" commit -q --no-verify --author "a <a@agents.agentvisor>" -m "bench: $2"; }' _ "$wt" "$id"
  step "$id" cleanup gl -C "$REPO" worktree remove --force --force "$wt"
}

# Runs `task` for each id read from stdin, MAXPAR at a time (0: all at once); dependencies as args.
many() {
  local pids=() running=0 id
  while read -r id; do
    task "$id" "$@" &
    pids+=($!)
    running=$((running + 1))
    if [ "$MAXPAR" -gt 0 ] && [ "$running" -ge "$MAXPAR" ]; then wait -n; running=$((running - 1)); fi
  done
  local rc=0
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}

id_of() { printf 't%03d' "$1"; }
ORDER=()
case "$SHAPE" in
  parallel)
    for i in $(seq 1 "$N"); do ORDER+=("$(id_of "$i")"); done
    printf '%s\n' "${ORDER[@]}" | many
    ;;
  chain)
    prev=
    for i in $(seq 1 "$N"); do
      id=$(id_of "$i")
      if [ -n "$prev" ]; then task "$id" "$prev"; else task "$id"; fi
      ORDER+=("$id")
      prev=$id
    done
    ;;
  fan)
    task root
    ORDER+=(root)
    mids=()
    for i in $(seq 1 $((N - 2))); do mids+=("$(id_of "$i")"); done
    printf '%s\n' "${mids[@]}" | many root
    ORDER+=("${mids[@]}")
    task sink "${mids[@]}"
    ORDER+=(sink)
    ;;
  *) echo "unknown shape $SHAPE" >&2; exit 2 ;;
esac

# The integration branch, merged in graph order in a worktree of its own.
INTEG="bench/$RUN"
MWT=$WORK/worktrees/_merge
step _merge branch g -C "$REPO" branch "$INTEG" "$BASE_COMMIT"
step _merge worktree g -C "$REPO" worktree add -q "$MWT" "$INTEG"
a=$(now)
for id in "${ORDER[@]}"; do g -C "$MWT" merge -q --no-ff --no-edit -m "merge $id" "$(branch "$id")"; done
printf '%s\t%s\t%s\t%s\n' _merge merge "$a" "$(now)" >>"$TRACE"
step _merge cleanup g -C "$REPO" worktree remove --force --force "$MWT"
