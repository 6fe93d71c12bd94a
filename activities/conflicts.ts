// Conflict resolution by an agent, on the git side: a worktree at the integration branch with the
// conflicting task branch's merge in progress (the agent edits the conflicted files in its
// container, as any agent edits its worktree), then the merge committed and the integration
// branch moved to it, unless conflict markers are left. Idempotent, as every activity.
import * as path from 'node:path';
import { integrationBranch, taskBranch } from '../contract/run-types';
import { gitIn, isAncestor, resolveCommit } from './git';
import { withHeartbeat } from './heartbeat';
import { createWorkspace, type collectWork } from './workspace';

type Owner = { uid: number; gid: number } | undefined;
/** collectWork with the worker's own settings (runtime, user) already given. */
type Collect = (o: Omit<Parameters<typeof collectWork>[0], 'runtime' | 'scope' | 'user' | 'owner'>) => ReturnType<typeof collectWork>;

/** The resolver's own id in the run: its workspace, container and log (never a task id: those start with a letter or digit). */
export const resolverId = (taskId: string) => `_resolve-${taskId}`;

/** A line that opens or closes a conflict hunk as git writes them. */
const MARKER = /^(<{7}|>{7})( |$)/m;

/**
 * The resolver's workspace, made afresh: the integration commit (with its history: git needs the
 * merge base) and the task branch's merge in progress. Returns the conflicted files.
 */
export async function restartConflictedMerge(opts: {
  repo: string;
  dir: string;
  startCommit: string;
  branch: string;
  taskId: string;
  author: string;
  owner?: Owner;
  diskBytes?: number;
}): Promise<string[]> {
  const theirs = await resolveCommit(opts.repo, opts.branch);
  const { conflicted } = await createWorkspace({
    repo: opts.repo,
    dir: opts.dir,
    commit: opts.startCommit,
    branch: `agentvisor-resolve/${opts.taskId}`,
    author: opts.author,
    owner: opts.owner,
    diskBytes: opts.diskBytes,
    history: true,
    merge: { commit: theirs, message: `agentvisor: merge ${opts.taskId}` },
  });
  return conflicted;
}

/** Files among `files` that hold conflict markers in `commit` (read from git's objects; a deleted file is a resolution too). */
async function filesWithMarkers(repo: string, commit: string, files: string[]): Promise<string[]> {
  const left: string[] = [];
  for (const file of files) {
    const text = await gitIn(repo, ['cat-file', 'blob', `${commit}:${file}`]).catch(() => undefined);
    if (text !== undefined && MARKER.test(text)) left.push(file);
  }
  return left;
}

export function conflictActivities({
  owner,
  worktreePath,
  collect,
  diskBytes = 0,
}: {
  owner?: Owner;
  worktreePath: (artifactsDir: string, id: string) => string;
  collect: Collect;
  diskBytes?: number;
}) {
  return {
    /** The resolver's workspace: the integration branch, the task branch's merge in progress. */
    async prepareResolution(input: {
      runId: string;
      repo: string;
      artifactsDir: string;
      taskId: string;
    }): Promise<{ worktree: string; startCommit: string; files: string[] }> {
      const worktree = worktreePath(input.artifactsDir, resolverId(input.taskId));
      return withHeartbeat('prepare the conflicted merge', async () => {
        const startCommit = await resolveCommit(input.repo, integrationBranch(input.runId));
        const files = await restartConflictedMerge({
          repo: input.repo,
          dir: worktree,
          startCommit,
          branch: taskBranch(input.runId, input.taskId),
          taskId: input.taskId,
          author: 'resolver',
          owner,
          // DISK LIMIT (activities/disk-limit.ts): the resolver's workspace, of the worker's default size
          diskBytes,
        });
        return { worktree, startCommit, files };
      });
    },

    /**
     * Collects what the resolver left as the merge (workspace.ts) and moves the integration branch
     * to it, unless conflict markers remain in the files that conflicted (then nothing changes).
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
        if (await isAncestor(input.repo, branch, integration))
          return { resolved: true, commit: await resolveCommit(input.repo, integration) }; // a retry
        const commit = await collect({
          runId: input.runId,
          id: resolverId(input.taskId),
          taskId: resolverId(input.taskId),
          repo: input.repo,
          workspace: input.worktree,
          // the workspace is <artifacts>/worktrees/<id> (worktreePath)
          artifactsDir: path.dirname(path.dirname(input.worktree)),
          startCommit: input.startCommit,
          author: input.resolver,
          message: `agentvisor: merge ${input.taskId} (conflict resolved by ${input.resolver})`,
          mergeParent: await resolveCommit(input.repo, branch),
          diskBytes,
        });
        if (!commit) return { resolved: false, reason: 'the resolution made no commit' };
        const markers = await filesWithMarkers(input.repo, commit, input.files);
        if (markers.length) return { resolved: false, reason: `conflict markers are left in ${markers.join(', ')}` };
        // only from the commit the resolver started on: anything else moved the branch meanwhile
        await gitIn(input.repo, ['update-ref', `refs/heads/${integration}`, commit, input.startCommit]);
        return { resolved: true, commit };
      });
    },
  };
}
