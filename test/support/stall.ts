// What the kill tests share: a hook that stalls a chosen step of a run so a process can be killed
// inside it, and the recovery times read from the runs' histories.
import { chmodSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';

/**
 * A step the hook can stall: `setup`, the creation of a task branch as its workspace is
 * provisioned; `commit`, the move of a task branch to the collected work; `merge`, the move of the
 * integration branch; `delete-<task>` and `delete-integration`, the deletion of a task's branch or
 * of the integration branch (a rollback's deleteBranches).
 */
export type StallStep = 'setup' | 'commit' | 'merge' | 'delete-integration' | `delete-${string}`;

const ZERO = '0'.repeat(40);

/**
 * The repository's reference-transaction hook (the user's own hook, which agentvisor's ref updates
 * run) stalls each of `steps` once, for `seconds`: the first hit of a step makes `<flags>/<step>.hit`
 * and sleeps, later hits pass. Install it before the run starts: a step cannot pass before its
 * stall exists. The git process that runs the hook is the worker's child: a worker killed meanwhile
 * leaves it to finish its update.
 */
export function installStallHook(repo: string, flags: string, steps: StallStep[], seconds = 6): void {
  const file = path.join(repo, '.git', 'hooks', 'reference-transaction');
  writeFileSync(
    file,
    `#!/bin/sh
[ "$1" = prepared ] || exit 0
while read old new ref; do
  # (an update without an expected value shows old as zeros: ask the ref itself)
  now=$(git rev-parse -q --verify "$ref")
  case "$ref" in
    refs/heads/agentvisor-tasks/*)
      if [ -z "$now" ]; then step=setup
      elif [ "$new" = ${ZERO} ]; then step="delete-\${ref##*/}"
      elif [ "$new" != "$now" ]; then step=commit
      else continue; fi ;;
    refs/heads/agentvisor/*)
      [ -n "$now" ] || continue
      if [ "$new" = ${ZERO} ]; then step=delete-integration; else step=merge; fi ;;
    *) continue ;;
  esac
  case " ${steps.join(' ')} " in *" $step "*) ;; *) continue ;; esac
  if mkdir ${flags}/$step.hit 2>/dev/null; then sleep ${seconds}; fi
done
exit 0
`,
  );
  chmodSync(file, 0o755);
}

export interface Recovery {
  stage: string;
  workflow: string;
  activity: string;
  attempt: number;
  ms: number;
}

const millis = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t!.seconds) * 1000 + Math.round((t!.nanos ?? 0) / 1e6);

/**
 * For each retried activity (attempt > 1) of these workflows: how long after the last kill before
 * it the attempt started (the history records the start of the last attempt).
 */
export async function recoveryTimes(client: Client, workflowIds: string[], kills: { stage: string; at: number }[]): Promise<Recovery[]> {
  const found: Recovery[] = [];
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const scheduled = new Map<string, string>();
    for (const e of history.events ?? []) {
      if (e.activityTaskScheduledEventAttributes)
        scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      const started = e.activityTaskStartedEventAttributes;
      if (!started || (started.attempt ?? 1) < 2) continue;
      const at = millis(e.eventTime);
      const kill = [...kills].reverse().find((k) => k.at <= at);
      if (kill) {
        const activity = scheduled.get(String(started.scheduledEventId)) ?? '?';
        found.push({ stage: kill.stage, workflow: id, activity, attempt: started.attempt ?? 1, ms: at - kill.at });
      }
    }
  }
  return found;
}

/** Every event time of these workflows' histories (ms), sorted. */
export async function eventTimes(client: Client, workflowIds: string[]): Promise<number[]> {
  const times: number[] = [];
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    for (const e of history.events ?? []) times.push(millis(e.eventTime));
  }
  return times.sort((a, b) => a - b);
}
