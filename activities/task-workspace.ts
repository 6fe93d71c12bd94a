// A task's workspace: made from its start commit before the agent runs, its work collected onto
// the task's branch (and recorded in the run's ledger) after, and removed.
import { ledgerPath, taskWorktreePath, workspaceBasesDir } from '../paths/run-folder';
import { taskBranch, type TaskInput } from '../contract/run-types';
import { terminalText } from '../contract/text-safety';
import type { ActivityContext } from './context';
import { diffStats, setBranch, startTaskBranch, type DiffStats } from './git';
import { withHeartbeat } from './heartbeat';
import { appendLedger, ledgerEntry } from './ledger';
import { effectiveLimits } from './limits';
import { collectWork, createWorkspace, removeWorkspaceDir } from './workspace';

/** Where a task's workspace is, and the commit it starts from. */
export interface Workspace {
  path: string;
  branch: string;
  startCommit: string;
}

export function taskWorkspaceActivities({ runtime, scope, user, owner, defaults, workspaces }: ActivityContext) {
  return {
    async provisionWorkspace(input: TaskInput & { branch: string }): Promise<Workspace> {
      return withHeartbeat('provision workspace', async () => {
        const startCommit = await startTaskBranch({
          repo: input.repo,
          branch: input.branch,
          startPoint: input.baseCommit,
          merge: input.dependencyBranches,
        });
        const dir = taskWorktreePath(input.artifactsDir, input.taskId);
        // DISK LIMIT: the workspace is a filesystem of the agent's disk limit (activities/disk-limit.ts)
        const diskBytes = effectiveLimits(input.agent.limits, defaults).diskBytes;
        await createWorkspace({
          repo: input.repo,
          dir,
          commit: startCommit,
          branch: input.branch,
          author: input.agent.name,
          owner,
          diskBytes,
          // copy-on-write: an overlay of the run's checkout of the start commit (workspace-overlay.ts)
          bases: workspaces === 'overlay' ? workspaceBasesDir(input.artifactsDir) : undefined,
        });
        return { path: dir, branch: input.branch, startCommit };
      });
    },

    /**
     * The agent's work (committed or not) onto its branch, through the collector (workspace.ts),
     * and recorded in the run's ledger. A read-only agent changed nothing: no collector runs.
     */
    async collectOutput(input: TaskInput & { worktree: string; startCommit: string }): Promise<DiffStats> {
      // (a proposed task's prompt is an agent's text: no control characters into git log)
      const summary = terminalText(input.task.prompt.split('\n')[0]).slice(0, 200);
      const branch = taskBranch(input.runId, input.taskId);
      const stats = await withHeartbeat('collect', async () => {
        const tip = input.agent.readOnly
          ? undefined
          : await collectWork({
              runtime,
              scope,
              user,
              owner,
              runId: input.runId,
              id: input.taskId,
              taskId: input.taskId,
              repo: input.repo,
              workspace: input.worktree,
              artifactsDir: input.artifactsDir,
              startCommit: input.startCommit,
              author: input.agent.name,
              message: `agentvisor: ${input.taskId} (${input.agent.name})${summary ? `\n\n${summary}` : ''}`,
              diskBytes: effectiveLimits(input.agent.limits, defaults).diskBytes,
            });
        await setBranch(input.repo, branch, tip ?? input.startCommit);
        return diffStats(input.repo, input.startCommit, branch);
      });
      await appendLedger(ledgerPath(input.artifactsDir), ledgerEntry(input, stats));
      return stats;
    },

    async removeWorkspace(input: { repo: string; artifactsDir: string; taskId: string }): Promise<void> {
      // it may queue behind other worktree commands of the repository (git.ts): heartbeat meanwhile
      // DISK LIMIT: unmounts, then deletes the folder and its image
      await withHeartbeat('remove workspace', () => removeWorkspaceDir(taskWorktreePath(input.artifactsDir, input.taskId)));
    },
  };
}
