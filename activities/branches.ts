// The run's branches in the user's repository: its integration branch, made at the start; the
// merge of the tasks' branches into it; and deleting branches (a rollback's).
import { mkdir } from 'node:fs/promises';
import { integrationBranch, type MergeReport } from '../contract/run-types';
import { createIntegrationBranch, deleteBranches, mergeTaskBranches } from './git';
import { withHeartbeat } from './heartbeat';

export function branchActivities() {
  return {
    /** The run's integration branch at the base commit (a resumed run names the earlier run's). */
    async prepareRun(input: { runId: string; repo: string; baseBranch: string; artifactsDir: string; baseCommit?: string }) {
      await mkdir(input.artifactsDir, { recursive: true });
      const baseCommit = await withHeartbeat('create integration branch', () =>
        createIntegrationBranch(input.repo, input.baseCommit ?? input.baseBranch, integrationBranch(input.runId)),
      );
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
