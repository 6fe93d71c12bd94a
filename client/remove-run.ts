// agentvisor rm: a finished run removed for good: its branches in the user's repository, its
// folder (logs, reports, ledger: resume can no longer reuse its work), and its Temporal history
// with its tasks' child workflows. A run still going is refused; so is a branch of it the user has
// checked out. Everything is checked before anything is removed.
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { BadInputError } from '../graph/problems';
import { integrationBranch, type RunReport } from '../contract/run-types';
import { imageOf, releaseLimitedDir, releaseLimitedDirsUnder } from '../activities/disk-limit';
import { releaseOverlaysUnder } from '../activities/workspace-overlay';
import { runArtifactsDir } from '../paths/data-folder';
import { collectRoot, reportPath, runFilePath, sharedDir, worktreesDir } from '../paths/run-folder';
import type { ClientConfig } from './config';
import { userGit, worktrees } from './user-repo';

export interface RemovedRun {
  runId: string;
  /** the repository whose branches go (absent: none known here) */
  repo?: string;
  branches: string[];
  /** the run's folder, when this machine has it */
  folder?: string;
  /** the workflow ids whose histories go: the run's and its tasks' */
  history: string[];
  /** what is left alone, and why (e.g. branches on a git remote) */
  notes: string[];
  dryRun: boolean;
}

export async function removeRun(client: Client, cfg: ClientConfig, runId: string, opts: { dryRun?: boolean } = {}): Promise<RemovedRun> {
  const description = await describeOrNothing(client, runId);
  if (description?.status.name === 'RUNNING') {
    throw new BadInputError([{ message: `run ${runId} is still running: cancel it first (agentvisor cancel ${runId})` }]);
  }
  const folder = runArtifactsDir(cfg.dataDir, runId);
  const saved = savedFacts(folder);
  const repo = saved.repo ?? (description?.memo?.repo as string | undefined);
  const removed: RemovedRun = { runId, branches: [], history: [], notes: [], dryRun: !!opts.dryRun };
  if (existsSync(folder)) removed.folder = folder;

  if (saved.remote) removed.notes.push(`its branches are on the remote ${saved.remote}: left alone`);
  else if (repo && existsSync(repo)) {
    removed.repo = repo;
    removed.branches = await branchesOfRun(repo, runId);
    const inUse = (await worktrees(repo)).filter((w) => w.branch && removed.branches.includes(w.branch));
    if (inUse.length) {
      throw new BadInputError(
        inUse.map((w) => ({ message: `branch ${w.branch} of run ${runId} is checked out in ${w.path}: switch to another branch first` })),
      );
    }
  } else if (repo) removed.notes.push(`its repository ${repo} is not here: no branch removed`);

  if (description) removed.history = await historyOfRun(client, runId);
  if (!removed.folder && !removed.history.length && !removed.branches.length) {
    throw new BadInputError([{ message: `no run with id "${runId}"` }]);
  }
  if (opts.dryRun) return removed;

  if (removed.repo && removed.branches.length) await userGit(removed.repo, ['branch', '-D', '--', ...removed.branches]);
  if (removed.folder) await removeFolder(removed.folder);
  for (const workflowId of removed.history) {
    await client.workflowService.deleteWorkflowExecution({ namespace: client.options.namespace, workflowExecution: { workflowId } });
  }
  for (const workflowId of removed.history) await untilGone(client, workflowId);
  return removed;
}

async function describeOrNothing(client: Client, runId: string): Promise<WorkflowExecutionDescription | undefined> {
  try {
    return await client.workflow.getHandle(runId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** What the run's folder says: its repository (run.json) and its git remote (report.json). */
function savedFacts(folder: string): { repo?: string; remote?: string } {
  const read = <T>(file: string): T | undefined => (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined);
  const run = read<{ repo?: string }>(runFilePath(folder));
  const report = read<RunReport>(reportPath(folder));
  return { repo: run?.repo ?? report?.repo, remote: report?.remote };
}

async function branchesOfRun(repo: string, runId: string): Promise<string[]> {
  const out = await userGit(repo, [
    'for-each-ref',
    '--format=%(refname:short)',
    `refs/heads/${integrationBranch(runId)}`,
    `refs/heads/agentvisor-tasks/${runId}/`,
  ]);
  return out.split('\n').filter(Boolean);
}

/** The run's workflow and its tasks' (`RUN/TASK`, `RUN/TASK/retry`). */
async function historyOfRun(client: Client, runId: string): Promise<string[]> {
  const ids = new Set([runId]);
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${runId}' OR WorkflowId STARTS_WITH '${runId}/'` })) {
    ids.add(wf.workflowId);
  }
  return [...ids];
}

/** The folder, with the filesystems of disk-limited workspaces a crash may have left mounted in it. */
async function removeFolder(folder: string): Promise<void> {
  await releaseOverlaysUnder(worktreesDir(folder));
  await releaseLimitedDirsUnder(worktreesDir(folder));
  await releaseLimitedDirsUnder(collectRoot(folder));
  if (existsSync(imageOf(sharedDir(folder)))) await releaseLimitedDir(sharedDir(folder));
  rmSync(folder, { recursive: true, force: true });
}

/**
 * The server deletes a history in the background (slower on a busy server): rm returns once the
 * workflow is no longer found, and says so when the server has not done it within a minute.
 */
async function untilGone(client: Client, workflowId: string, withinMs = 60_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (await describeOrNothing(client, workflowId)) {
    if (Date.now() > deadline)
      throw new Error(`the server has not deleted the history of ${workflowId} yet (it does so in the background): run rm again later`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
