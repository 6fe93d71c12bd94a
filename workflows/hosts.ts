// Work placed on hosts, for runs whose graph names a git remote. Temporal does the scheduling:
// work reaches a host through a task queue (contract/queues.ts). Work placed on a queue several
// hosts serve first claims a host (the worker that takes the claim answers with its own queue),
// then every step of it runs there. A queue no worker takes work from within the placement's
// `wait` (the activities' schedule-to-start timeout, which Temporal never retries) moves the work to
// the next queue of its placement, or fails it saying so.
import { ApplicationFailure, TimeoutFailure, isCancellation, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { RunActivities } from '../activities';
import type { Placement } from '../graph/types';
import { CLEANUP_ACTIVITY, STEP_ACTIVITY, containerActivity, settled } from './activity-options';
import { describePlacement, placementQueues } from '../contract/queues';
import type { EvaluationReport, MergeReport, RunInput, TaskInput, TaskResult } from '../contract/run-types';
import type { TaskActivities } from './task-activities';
import type { Saga } from './saga';
import { hostGatewayFor } from './host-gateways';

/** The failure of an activity no worker started within its schedule-to-start timeout. */
export function neverStarted(err: unknown): boolean {
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e instanceof TimeoutFailure && e.timeoutType === 'SCHEDULE_TO_START') return true;
  }
  return false;
}

/** Activity options on a queue (undefined: the run's own), waiting at most `waitMs` for a worker. */
export function onQueue(options: ActivityOptions, queue: string | undefined, waitMs: number | undefined): ActivityOptions {
  return { ...options, ...(queue ? { taskQueue: queue } : {}), ...(waitMs ? { scheduleToStartTimeout: waitMs } : {}) };
}

const seconds = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`);

export interface Claimed {
  host: string;
  /** the host's own queue (always set by a host's worker, the only kind that serves claims) */
  queue?: string;
  /** which of the placement's queues it came from */
  index: number;
  /** why it is not on the placement's first queue */
  moved?: string;
}

/**
 * The host for work with this placement, trying its queues from `from` on. The last queue's wait
 * running out fails the work with the reason (type PlacementTimeout).
 */
export async function claimHost(p: Placement | undefined, what: string, from = 0, why: string[] = []): Promise<Claimed> {
  const queues = placementQueues(p);
  for (let i = from; i < queues.length; i++) {
    const { claimHost } = proxyActivities<RunActivities>(
      onQueue({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 3, initialInterval: '1 second' } }, queues[i], p?.waitMs),
    );
    try {
      const claimed = await claimHost();
      return { ...claimed, index: i, moved: why.length ? `moved: ${why.join('; ')}` : undefined };
    } catch (err) {
      if (!neverStarted(err)) throw err;
      why.push(`no worker of ${describePlacement(p, queues[i])} started ${what} within ${seconds(p!.waitMs!)}`);
    }
  }
  throw ApplicationFailure.create({ type: 'PlacementTimeout', message: why.join('; then '), nonRetryable: true });
}

/**
 * A task of a run with a remote: claimed by a host of its placement, then its steps on that host.
 * A host that goes away mid-task (a step waits longer than the placement allows) sends the task to
 * the next queue of its placement to start over, or fails it; what it left on that host stays
 * there for `agentvisor gc` on it.
 */
export async function runTaskOnHost(
  input: TaskInput,
  steps: (input: TaskInput, on: TaskActivities) => Promise<TaskResult>,
): Promise<TaskResult> {
  const p = input.task.runsOn;
  const why: string[] = [];
  for (let from = 0; ;) {
    const claimed = await claimHost(p, `task ${input.taskId}`, from, why);
    const on = hostActivities(input, claimed.queue, p?.waitMs);
    try {
      // a run whose agents need a gateway: this host's own (workflows/host-gateways.ts)
      const gateway = await hostGatewayFor(input, claimed, p?.waitMs);
      const result = await steps(gateway ? { ...input, gateway } : input, on);
      return { ...result, host: claimed.host, note: claimed.moved };
    } catch (err) {
      if (isCancellation(err) || !(err instanceof ApplicationFailure)) throw err;
      const gone = on.gone();
      const reason = `host "${claimed.host}" went away: no worker of it started the task's next step within ${seconds(p?.waitMs ?? 0)}`;
      if (gone && claimed.index + 1 < placementQueues(p).length) {
        why.push(reason);
        from = claimed.index + 1;
        continue;
      }
      // the task's failure, with the host it ran on (and why, when it went away)
      const details = (err.details?.[0] ?? {}) as object;
      throw ApplicationFailure.create({
        type: err.type ?? 'TaskFailed',
        message: gone ? reason : err.message,
        nonRetryable: true,
        details: [{ ...details, host: claimed.host, note: claimed.moved }],
        cause: err.cause,
      });
    }
  }
}

/** The task's activities on its host's queue; compensations skip a host that went away. */
function hostActivities(input: TaskInput, queue: string | undefined, waitMs: number | undefined): TaskActivities & { gone: () => boolean } {
  let gone = false;
  const watch = <T>(step: Promise<T>): Promise<T> =>
    step.catch((err) => {
      if (neverStarted(err)) gone = true;
      throw err;
    });
  const steps = proxyActivities<RunActivities>(onQueue(settled(STEP_ACTIVITY), queue, waitMs));
  const hostCleanup = proxyActivities<RunActivities>(onQueue(CLEANUP_ACTIVITY, queue, waitMs));
  // the remote's branches can be deleted from any host: on the run's own queue
  const runCleanup = proxyActivities<RunActivities>(CLEANUP_ACTIVITY);
  const { remote, runId } = input;
  return {
    gone: () => gone,
    steps: {
      provisionWorkspace: (a) => watch(steps.provisionWorkspace(a)),
      collectOutput: (a) => watch(steps.collectOutput(a)),
      removeWorkspace: (a) => watch(steps.removeWorkspace({ ...a, remote, runId })),
    },
    cleanup: {
      deleteBranches: (a) => runCleanup.deleteBranches({ ...a, remote }),
      removeContainers: async (a) => (gone ? 0 : hostCleanup.removeContainers(a)),
      removeWorkspace: async (a) => {
        if (!gone) await hostCleanup.removeWorkspace({ ...a, remote, runId });
      },
    },
    container: (timeoutMs, retry) => {
      const { runAgent } = proxyActivities<RunActivities>(onQueue(settled(containerActivity(timeoutMs, retry)), queue, waitMs));
      return { runAgent: (a) => watch(runAgent(a)) };
    },
  };
}

type MergeInput = Parameters<RunActivities['mergeTasks']>[0];

/** The merge of a run with a remote, on a host of its placement. */
export async function mergeOnHost(graph: RunInput['graph'], args: MergeInput): Promise<MergeReport> {
  const p = graph.mergeRunsOn;
  const claimed = await claimHost(p, 'the merge');
  const { mergeTasks } = proxyActivities<RunActivities>(onQueue(settled(STEP_ACTIVITY), claimed.queue, p?.waitMs));
  return { ...(await mergeTasks({ ...args, remote: graph.remote })), host: claimed.host };
}

type EvaluateInput = Parameters<RunActivities['evaluate']>[0];

/** The evaluation of a run with a remote, on a host of its placement; its removal too. */
export async function evaluateOnHost(graph: RunInput['graph'], args: EvaluateInput, saga: Saga): Promise<EvaluationReport> {
  const p = args.evaluate.runsOn;
  const claimed = await claimHost(p, 'the evaluation');
  const { evaluate } = proxyActivities<RunActivities>(
    onQueue(settled(containerActivity(args.evaluate.timeoutMs)), claimed.queue, p?.waitMs),
  );
  const cleanup = proxyActivities<RunActivities>(onQueue(CLEANUP_ACTIVITY, claimed.queue, p?.waitMs));
  const where = { runId: args.runId, repo: args.repo, artifactsDir: args.artifactsDir, remote: graph.remote };
  saga.add('remove the evaluation', () => cleanup.removeEvaluation(where));
  const evaluation = await evaluate({ ...args, remote: graph.remote });
  await cleanup.removeEvaluation(where);
  return { ...evaluation, host: claimed.host };
}
