// Conflict resolution for a run with a remote, on the host the resolver was placed on: the same
// steps as on one machine (activities/conflicts.ts), in this host's clone, with the integration
// branch and the conflicting task branch fetched from the remote first and the resolved merge pushed
// back after. The clone's local copies of the two branches live only while a step runs.
import { integrationBranch, taskBranch } from '../contract/run-types';
import type { LocalActivities } from './local';
import { deleteBranches, git, resolveCommit } from './git';
import { withHeartbeat } from './heartbeat';
import { fetchBranches, pushCommits, tracking } from './remote-git';

type OnRemote<K extends keyof LocalActivities> = Parameters<LocalActivities[K]>[0] & { remote: string };

export function remoteConflictActivities(
  local: LocalActivities,
  place: (remote: string, runId: string) => Promise<{ clone: string; dir: string }>,
) {
  /** The two branches as the remote has them, as branches of the clone, while `step` runs. */
  const withBranches = async <T>(clone: string, runId: string, taskId: string, step: () => Promise<T>): Promise<T> => {
    const branches = [integrationBranch(runId), taskBranch(runId, taskId)];
    await withHeartbeat('fetch', () => fetchBranches(clone, branches));
    for (const b of branches) await git(clone).raw(['branch', '--force', b, tracking(b)]);
    try {
      return await step();
    } finally {
      await deleteBranches(clone, branches);
    }
  };

  return {
    async prepareResolution(input: OnRemote<'prepareResolution'>) {
      const { clone, dir } = await place(input.remote, input.runId);
      return withBranches(clone, input.runId, input.taskId, () => local.prepareResolution({ ...input, repo: clone, artifactsDir: dir }));
    },

    /** The resolution, committed in the clone, then pushed as the remote's integration branch. */
    async finishResolution(input: OnRemote<'finishResolution'>) {
      const { clone } = await place(input.remote, input.runId);
      const integration = integrationBranch(input.runId);
      return withBranches(clone, input.runId, input.taskId, async () => {
        const done = await local.finishResolution({ ...input, repo: clone });
        // a retry after the push finds the task merged already (finishResolution) and pushes the same commit
        if (done.resolved) {
          const commit = await resolveCommit(clone, integration);
          await withHeartbeat('push', () => pushCommits(clone, [{ commit, branch: integration }]));
        }
        return done;
      });
    },
  };
}
