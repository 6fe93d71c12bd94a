// A Job and its pod, read as the state of one container: running, exited (with what), or unable
// to run. Pure, so every case the API server can show is tested without one.
import type { V1ContainerStatus, V1Job, V1Pod } from '@kubernetes/client-node';
import type { ContainerState, ExitInfo } from '../runtime';
import { AWAIT_POLICY, COPY_IN, MAIN } from './objects';

/** Waiting reasons that waiting does not cure: the image is not there and will not come. */
const IMAGE_ERRORS = [
  'ErrImageNeverPull',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrInvalidImageName',
  'ImageInspectError',
];

/** Killed (SIGKILL) with no exit code of its own: its pod was deleted or it never started. */
const KILLED = 137;

export interface Judgement {
  state: ContainerState;
  exit?: ExitInfo;
  /** why it cannot run (image errors), set while it waits */
  cannotRun?: string;
  startedAt?: Date;
  /** the Job's pod, when there is one */
  pod?: V1Pod;
  /** the main container has started (its log can be read) */
  mainStarted: boolean;
}

function condition(job: V1Job, type: string) {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

/** The newest of the Job's pods (there is one: backoffLimit 0). */
export function currentPod(pods: V1Pod[]): V1Pod | undefined {
  return [...pods].sort((a, b) => (b.metadata?.creationTimestamp?.getTime() ?? 0) - (a.metadata?.creationTimestamp?.getTime() ?? 0))[0];
}

const statusOf = (pod: V1Pod | undefined, name: string, init = false): V1ContainerStatus | undefined =>
  (init ? pod?.status?.initContainerStatuses : pod?.status?.containerStatuses)?.find((s) => s.name === name);

export function judge(job: V1Job | undefined, pods: V1Pod[]): Judgement {
  if (!job) return { state: 'missing', mainStarted: false };
  const pod = currentPod(pods);
  const main = statusOf(pod, MAIN);
  const terminated = main?.state?.terminated;
  const startedAt = main?.state?.running?.startedAt ?? terminated?.startedAt ?? job.status?.startTime ?? job.metadata?.creationTimestamp;
  const mainStarted = !!(main?.state?.running || terminated);
  const base = { startedAt: startedAt ? new Date(startedAt) : undefined, pod, mainStarted };
  const ownExit: ExitInfo | undefined = terminated
    ? { exitCode: terminated.exitCode, oomKilled: terminated.reason === 'OOMKilled' }
    : undefined;

  // the agent never started: its pod's NetworkPolicy did not take effect (objects.ts, awaitPolicy)
  const policy = statusOf(pod, AWAIT_POLICY, true)?.state?.terminated;
  if (policy && policy.exitCode !== 0) {
    const why = policy.message?.trim().split('\n').at(-1) || `exit code ${policy.exitCode}`;
    return { ...base, state: 'created', cannotRun: `the pod's network could not be confined: ${why}` };
  }

  const failed = condition(job, 'Failed') ?? condition(job, 'FailureTarget');
  if (failed) {
    const deadline = failed.reason === 'DeadlineExceeded' && (!ownExit || ownExit.exitCode === KILLED || ownExit.exitCode === 143);
    return {
      ...base,
      state: 'exited',
      exit: { ...(ownExit ?? { exitCode: KILLED, oomKilled: false }), ...(deadline ? { timedOut: true } : {}) },
    };
  }
  if (condition(job, 'Complete') ?? condition(job, 'SuccessCriteriaMet')) {
    return { ...base, state: 'exited', exit: ownExit ?? { exitCode: 0, oomKilled: false } };
  }
  // ended, while the copy-out container still holds the pod for the worker
  if (ownExit) return { ...base, state: 'exited', exit: ownExit };
  if (main?.state?.running) return { ...base, state: 'running' };

  for (const s of [statusOf(pod, AWAIT_POLICY, true), statusOf(pod, COPY_IN, true), main]) {
    const waiting = s?.state?.waiting;
    if (waiting?.reason && IMAGE_ERRORS.includes(waiting.reason)) {
      return {
        ...base,
        state: 'created',
        cannotRun: `image ${s!.image} cannot be used: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`,
      };
    }
  }
  return { ...base, state: 'created' };
}
