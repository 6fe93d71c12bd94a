// The run's branches in the user's repository: its integration branch, made at the start; the
// merge of the tasks' branches into it; and deleting branches (a rollback's).
import { mkdir } from 'node:fs/promises';
import { integrationBranch, type MergeReport } from '../contract/run-types';
import { workspaceBasesDir } from '../paths/run-folder';
import type { ActivityContext } from './context';
import { createIntegrationBranch, deleteBranches, mergeTaskBranches } from './git';
import { withHeartbeat } from './heartbeat';
import { workspaceBase } from './workspace';

export function branchActivities({ owner, workspaces }: Pick<ActivityContext, 'owner' | 'workspaces'>) {
  return {
    /**
     * The run's integration branch at the base commit (a resumed run names the earlier run's).
     * With copy-on-write workspaces, also the run's one checkout of that commit
     * (workspace-overlay.ts), made here before any task: a task starting there then gets its
     * workspace in milliseconds, instead of its first tasks waiting in their provisioning for it.
     */
    async prepareRun(input: { runId: string; repo: string; baseBranch: string; artifactsDir: string; baseCommit?: string }) {
      await mkdir(input.artifactsDir, { recursive: true });
      const baseCommit = await withHeartbeat('create integration branch', () =>
        createIntegrationBranch(input.repo, input.baseCommit ?? input.baseBranch, integrationBranch(input.runId)),
      );
      if (workspaces === 'overlay' && owner) {
        const bases = workspaceBasesDir(input.artifactsDir);
        await withHeartbeat('check out the base commit', () => workspaceBase({ repo: input.repo, bases, commit: baseCommit, owner }));
      }
      return { baseCommit };
    },

    async mergeTasks(input: {
      runId: string;
      repo: string;
      artifactsDir: string;
      tasks: { taskId: string; branch: string; files: string[] }[];
    }): Promise<MergeReport> {
      return withHeartbeat('merge', () =>
        mergeTaskBranches({
          repo: input.repo,
          integrationBranch: integrationBranch(input.runId),
          tasks: input.tasks,
        }),
      );
    },

    async deleteBranches(input: { repo: string; branches: string[] }): Promise<string[]> {
      return deleteBranches(input.repo, input.branches);
    },
  };
}
