// Every timeout here is deliberate.
import {
  ActivityCancellationType,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  patched,
  proxyActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import { CANCEL_WAITS_FOR_STEPS_PATCH } from './patches';
import { DEFAULT_RETRY, type RetrySpec } from '../graph/types';

/**
 * A step of seconds on the worker's machine: git (branches, workspaces, the merge), the run's
 * files, starting the gateway, writing the report. A few retries cover a busy disk or a lock file.
 */
export const STEP_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  // these steps heartbeat while they work: a dead worker is noticed in seconds
  heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second', backoffCoefficient: 2 },
};

/**
 * Compensations must finish even when the engine is slow; they are idempotent, so retry more. They
 * heartbeat (activities/index.ts): a worker killed inside one is noticed in 10 s, not 2 minutes.
 */
export const CLEANUP_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 5, initialInterval: '1 second', backoffCoefficient: 2 },
};

/**
 * How long stopping a host's gateway of a run waits for that host's worker to take it: a host that
 * went away keeps its gateway (`agentvisor gc` there removes it), and the run must still end. Five
 * minutes covers a worker's restart.
 */
export const HOST_GATEWAY_STOP_WAIT_MS = 5 * 60_000;

/**
 * Telling a host's gateway that the run's total reached the near share of its budget, before the
 * run records it (workflows/host-gateways.ts): one request to a gateway on that host. The run's
 * budget records wait for it, so a host whose worker does not take it within 10 s is not waited
 * for (its gateway learns at its worker's next look); one more attempt covers a blip.
 */
export const HOST_BUDGET_NOTICE_ACTIVITY: ActivityOptions = {
  scheduleToStartTimeout: '10 seconds',
  startToCloseTimeout: '15 seconds',
  retry: { maximumAttempts: 2, initialInterval: '1 second' },
};

/**
 * A container run: the wall-clock limit is enforced inside the activity; start-to-close adds room
 * for image start and cleanup. The heartbeat timeout is how fast a dead worker is noticed and how a
 * cancel reaches the activity.
 */
export function containerActivity(timeoutMs: number, retry: RetrySpec = DEFAULT_RETRY): ActivityOptions {
  return {
    startToCloseTimeout: timeoutMs + 5 * 60_000,
    heartbeatTimeout: '10 seconds',
    retry: {
      maximumAttempts: retry.maximumAttempts,
      initialInterval: retry.initialIntervalMs,
      backoffCoefficient: 2,
      // the agent's own failures are results, not exceptions; these are the ones not worth retrying
      nonRetryableErrorTypes: ['DependencyConflict', 'BadTaskInput'],
    },
  };
}

/**
 * Options for steps that make what a compensation undoes (branches, workspaces, containers): when
 * the workflow cancels one, the workflow goes on once the step has ended (it saw the cancellation
 * at a heartbeat, or finished, or its worker was found dead at the heartbeat timeout), so a
 * compensation never runs beside it. Runs recorded before CANCEL_WAITS_FOR_STEPS_PATCH went on at once.
 */
export function settled(options: ActivityOptions): ActivityOptions {
  return patched(CANCEL_WAITS_FOR_STEPS_PATCH)
    ? { ...options, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED }
    : options;
}

/**
 * Activities whose options are decided at each call, in the running workflow (where a patch can be
 * asked), so that a workflow file can still name its activities once, at the top.
 */
export function proxyWith<A extends object>(options: () => ActivityOptions): A {
  return new Proxy({} as A, {
    get:
      (_target, name) =>
      (...args: unknown[]) =>
        (proxyActivities<A>(options()) as Record<string | symbol, (...a: unknown[]) => Promise<unknown>>)[name](...args),
  });
}

/**
 * The error a workflow's work ended with, as the workflow ends on it: a cancellation when the
 * workflow was cancelled. Since CANCEL_WAITS_FOR_STEPS_PATCH a cancelled step may end otherwise
 * (the heartbeat timeout of a dead worker, an error on its way out); the workflow was cancelled
 * all the same, and says so (a workflow ends cancelled only on a cancellation error).
 */
export function asCancellation(err: unknown, what: string): unknown {
  if (isCancellation(err)) return err;
  if (CancellationScope.current().consideredCancelled && patched(CANCEL_WAITS_FOR_STEPS_PATCH)) return new CancelledFailure(what);
  return err;
}
