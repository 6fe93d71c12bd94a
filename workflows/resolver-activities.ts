// Where a conflict's resolver works: on the run's own queue, or, for a run with a remote, on a host
// of the merge's placement (claimed as the merge is), which fetches the integration branch and the
// task branch from the remote and pushes the resolution back (activities/remote-conflicts.ts).
import { proxyActivities } from '@temporalio/workflow';
import type { RunActivities } from '../activities';
import type { RetrySpec } from '../graph/types';
import type { RunInput } from '../contract/run-types';
import { CLEANUP_ACTIVITY, STEP_ACTIVITY, containerActivity, proxyWith, settled } from './activity-options';
import { claimHost, onQueue } from './hosts';

export interface ResolverActivities {
  steps: Pick<RunActivities, 'prepareResolution' | 'finishResolution'>;
  cleanup: Pick<RunActivities, 'removeContainers' | 'removeWorkspace'>;
  container: (timeoutMs: number, retry?: RetrySpec) => Pick<RunActivities, 'runAgent'>;
  /** the host the resolver runs on (runs with a remote) */
  host?: string;
}

const steps = proxyWith<RunActivities>(() => settled(STEP_ACTIVITY));
const cleanup = proxyActivities<RunActivities>(CLEANUP_ACTIVITY);

export async function resolverActivities(graph: RunInput['graph'], taskId: string): Promise<ResolverActivities> {
  const { remote } = graph;
  if (!remote) {
    return {
      steps,
      cleanup,
      container: (timeoutMs, retry) => proxyActivities<RunActivities>(settled(containerActivity(timeoutMs, retry))),
    };
  }
  const p = graph.mergeRunsOn;
  const claimed = await claimHost(p, `the resolution of ${taskId}`);
  const onHost = proxyActivities<RunActivities>(onQueue(settled(STEP_ACTIVITY), claimed.queue, p?.waitMs));
  const hostCleanup = proxyActivities<RunActivities>(onQueue(CLEANUP_ACTIVITY, claimed.queue, p?.waitMs));
  return {
    host: claimed.host,
    steps: {
      prepareResolution: (a) => onHost.prepareResolution({ ...a, remote }),
      finishResolution: (a) => onHost.finishResolution({ ...a, remote }),
    },
    cleanup: {
      removeContainers: (a) => hostCleanup.removeContainers(a),
      removeWorkspace: (a) => hostCleanup.removeWorkspace({ ...a, remote }),
    },
    container: (timeoutMs, retry) => {
      const { runAgent } = proxyActivities<RunActivities>(onQueue(settled(containerActivity(timeoutMs, retry)), claimed.queue, p?.waitMs));
      return { runAgent: (a) => runAgent({ ...a, remote }) };
    },
  };
}
