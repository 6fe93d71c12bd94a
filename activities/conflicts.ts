// Conflict resolution by an agent, on the git side: a worktree at the integration branch with the
// conflicting task branch's merge in progress (the agent edits the conflicted files in its
// container, as any agent edits its worktree), then the merge committed and the integration
// branch moved to it, unless conflict markers are left. Idempotent, as every activity.
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import * as path from 'node:path';
import { integrationBranch, taskBranch } from '../workflows/run-types';
import { addDetachedWorktree, chownTree, GitCommandError, gitIn, isAncestor, removeWorktree, resolveCommit, resetWorktree } from './git';
import { mountLimitedDir, releaseLimitedDir } from './disk-limit';
import { withHeartbeat } from './heartbeat';

type Owner = { uid: number; gid: number } | undefined;

/** The resolver's own id in the run: its worktree, container and log (never a task id: those start with a letter or digit). */
export const resolverId = (taskId: string) => `_resolve-${taskId}`;

/** A line that opens or closes a conflict hunk as git writes them. */
const MARKER = /^(<{7}|>{7})( |$)/m;

/** Starts the merge of `branch` in the worktree and leaves it in progress; returns the conflicted files. */
export async function startConflictedMerge(worktree: string, branch: string, taskId: string, owner?: Owner): Promise<string[]> {
  try {
    await gitIn(worktree, ['merge', '--no-ff', '--no-commit', '-m', `agentvisor: merge ${taskId}`, branch]);
  } catch (err) {
    if (!(err instanceof GitCommandError)) throw err; // a conflict exits non-zero and leaves the merge in progress
  }
  const unmerged = await gitIn(worktree, ['diff', '--name-only', '--diff-filter=U']);
  if (owner) await chownTree(worktree, owner.uid, owner.gid);
  return [...new Set(unmerged.split('\n').filter(Boolean))];
}

/** Back to the integration commit with the merge started again: what a killed resolver left is discarded. */
export async function restartConflictedMerge(worktree: string, startCommit: string, branch: string, taskId: string, owner?: Owner): Promise<void> {
  await gitIn(worktree, ['merge', '--abort']).catch(() => undefined);
  await resetWorktree(worktree, startCommit);
  await startConflictedMerge(worktree, branch, taskId, owner);
}

/** Files among `files` that still hold conflict markers (regular files only: a symlink is not read). */
async function filesWithMarkers(worktree: string, files: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const file of files) {
    const full = path.join(worktree, file);
    const stat = await lstat(full).catch(() => undefined);
    if (!stat?.isFile()) continue; // deleted: a resolution too
    const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW);
    const text = await handle.readFile('utf8').finally(() => handle.close());
    if (MARKER.test(text)) left.push(file);
  }
  return left;
}

export function conflictActivities({ owner, worktreePath, diskBytes = 0 }: { owner?: Owner; worktreePath: (artifactsDir: string, id: string) => string; diskBytes?: number }) {
  return {
    /** The resolver's worktree: the integration branch, the task branch's merge in progress. */
    async prepareResolution(input: { runId: string; repo: string; artifactsDir: string; taskId: string }): Promise<{ worktree: string; startCommit: string; files: string[] }> {
      const worktree = worktreePath(input.artifactsDir, resolverId(input.taskId));
      return withHeartbeat('prepare the conflicted merge', async () => {
        // DISK LIMIT (activities/disk-limit.ts): the resolver's worktree is a filesystem of the worker's default size
        if (diskBytes && (await releaseLimitedDir(worktree))) await removeWorktree(input.repo, worktree);
        if (diskBytes) await mountLimitedDir(worktree, diskBytes, owner);
        await addDetachedWorktree(input.repo, worktree, integrationBranch(input.runId));
        const startCommit = await resolveCommit(worktree, 'HEAD');
        const files = await startConflictedMerge(worktree, taskBranch(input.runId, input.taskId), input.taskId, owner);
        return { worktree, startCommit, files };
      });
    },

    /**
     * Commits what the resolver left as the merge and moves the integration branch to it, unless
     * conflict markers remain in the files that conflicted (then nothing changes).
     */
    async finishResolution(input: {
      runId: string;
      repo: string;
      taskId: string;
      worktree: string;
      startCommit: string;
      files: string[];
      resolver: string;
    }): Promise<{ resolved: true; commit: string } | { resolved: false; reason: string }> {
      const integration = integrationBranch(input.runId);
      const branch = taskBranch(input.runId, input.taskId);
      return withHeartbeat('commit the resolution', async () => {
        if (await isAncestor(input.repo, branch, integration)) return { resolved: true, commit: await resolveCommit(input.repo, integration) }; // a retry
        const inProgress = await gitIn(input.worktree, ['rev-parse', '-q', '--verify', 'MERGE_HEAD']).then(() => true, () => false);
        if (!inProgress) return { resolved: false, reason: 'the merge is no longer in progress in its worktree' };
        const markers = await filesWithMarkers(input.worktree, input.files);
        if (markers.length) return { resolved: false, reason: `conflict markers are left in ${markers.join(', ')}` };
        await gitIn(input.worktree, ['add', '--all']);
        const email = `${input.resolver.replace(/[^A-Za-z0-9._-]/g, '-')}@agents.agentvisor`;
        await gitIn(input.worktree, [
          'commit', '--no-verify', '--quiet', '--author', `${input.resolver} <${email}>`,
          '-m', `agentvisor: merge ${input.taskId} (conflict resolved by ${input.resolver})`,
        ]);
        const commit = await resolveCommit(input.worktree, 'HEAD');
        // only from the commit the resolver started on: anything else moved the branch meanwhile
        await gitIn(input.repo, ['update-ref', `refs/heads/${integration}`, commit, input.startCommit]);
        return { resolved: true, commit };
      });
    },
  };
}
