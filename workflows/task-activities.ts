// The activities a task's steps use (run-task.ts): on the run's own queue, or on its host's
// (hosts.ts), which wraps them to notice a host that went away.
import type { RunActivities } from '../activities';
import type { RetrySpec } from '../graph/types';

export interface TaskActivities {
  steps: Pick<RunActivities, 'provisionWorkspace' | 'collectOutput' | 'removeWorkspace'>;
  cleanup: Pick<RunActivities, 'deleteBranches' | 'removeContainers' | 'removeWorkspace'>;
  container: (timeoutMs: number, retry?: RetrySpec) => Pick<RunActivities, 'runAgent'>;
}
