// The activities of a run whose graph names a git remote: the same steps as on one machine, done in
// this host's own clone of the remote and its own data folder, with what a step starts from fetched
// first and what it made pushed after. Only for inputs that name the remote: the worker picks these
// or the local ones (activities/index.ts).
import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { runArtifactsDir } from '../paths/data-folder';
import { runFilePath } from '../paths/run-folder';
import { integrationBranch, taskBranch } from '../contract/run-types';
import type { LocalActivities } from './local';
import { deleteBranches, git, resolveCommit } from './git';
import { withHeartbeat } from './heartbeat';
import { deleteRemoteBranches, ensureClone, fetchBranches, pushCommits, remoteBranches, tracking } from './remote-git';
import { ledgerEntry } from './ledger';
import { pushLedgerEntry } from './remote-ledger';
import { remoteResumeActivities } from './remote-resume';
import { remoteConflictActivities } from './remote-conflicts';
import { remoteSharedWorkspace } from './remote-shared';

/** The input of a local activity, for a run with a remote. */
type OnRemote<K extends keyof LocalActivities> = Parameters<LocalActivities[K]>[0] & { remote: string };

export function remoteActivities(local: LocalActivities, deps: { dataDir: string; scope?: string }) {
  const shared = remoteSharedWorkspace(local);
  const dirOf = (runId: string) => runArtifactsDir(deps.dataDir, runId);
  /** The clone, and the run's folder on this host (with what `agentvisor gc` here needs to sweep it). */
  const place = async (remote: string, runId: string) => {
    const clone = await ensureClone(deps.dataDir, remote);
    const dir = dirOf(runId);
    const runFile = runFilePath(dir);
    if (!existsSync(runFile)) {
      await mkdir(dir, { recursive: true });
      await writeFile(runFile, JSON.stringify({ runId, repo: clone, remote, scope: deps.scope }, null, 2) + '\n');
    }
    return { clone, dir };
  };

  return {
    async prepareRun(input: OnRemote<'prepareRun'>) {
      const { clone } = await place(input.remote, input.runId);
      const integration = integrationBranch(input.runId);
      const baseCommit = await withHeartbeat('create integration branch on the remote', async () => {
        const found = await remoteBranches(clone, [input.baseBranch, integration]);
        // a retry: the first attempt pushed the integration branch at the base commit
        if (found.has(integration)) {
          await fetchBranches(clone, [integration]);
          return found.get(integration)!;
        }
        if (!found.has(input.baseBranch)) {
          throw ApplicationFailure.nonRetryable(`base branch "${input.baseBranch}" is not on the remote ${input.remote}`, 'BadTaskInput');
        }
        await fetchBranches(clone, [input.baseBranch]);
        const base = input.baseCommit ?? (await resolveCommit(clone, tracking(input.baseBranch)));
        await pushCommits(clone, [{ commit: base, branch: integration }]);
        return base;
      });
      return { baseCommit };
    },

    async provisionWorkspace(input: OnRemote<'provisionWorkspace'>) {
      const { clone, dir } = await place(input.remote, input.runId);
      // the base commit is on the integration branch; the dependencies' work on their task branches
      await withHeartbeat('fetch', () => fetchBranches(clone, [integrationBranch(input.runId), ...input.dependencyBranches]));
      return local.provisionWorkspace({
        ...input,
        repo: clone,
        artifactsDir: dir,
        dependencyBranches: input.dependencyBranches.map((b) => `origin/${b}`),
      });
    },

    async runAgent(input: OnRemote<'runAgent'>) {
      const { clone, dir } = await place(input.remote, input.runId);
      // the shared workspace: the task's own copy, from the remote before, pushed back after (remote-shared.ts)
      const copy = input.shared && { ...input.shared, dir: await shared.copyIn(clone, dir, input) };
      const follow = copy?.readOnly
        ? shared.follow(clone, dir, input, (err) => log.warn(`shared workspace of ${input.taskId}: ${String(err)}`))
        : undefined;
      try {
        const outcome = await local.runAgent({ ...input, repo: clone, artifactsDir: dir, shared: copy });
        if (copy && !copy.readOnly) await shared.publish(clone, dir, input);
        return outcome;
      } finally {
        await follow?.stop();
      }
    },

    async collectOutput(input: OnRemote<'collectOutput'>) {
      const { clone, dir } = await place(input.remote, input.runId);
      const stats = await local.collectOutput({ ...input, repo: clone, artifactsDir: dir });
      await withHeartbeat('push', async () => {
        await pushCommits(clone, [{ commit: stats.commit, branch: taskBranch(input.runId, input.taskId) }]);
        // the ledger's entry goes to the remote too, where a resume on any machine finds it
        await pushLedgerEntry(clone, ledgerEntry(input, stats));
      });
      return stats;
    },

    /** The worktree, and the task branch's copy in this clone (the remote keeps the branch). */
    async removeWorkspace(input: OnRemote<'removeWorkspace'> & { runId: string }) {
      const { clone, dir } = await place(input.remote, input.runId);
      await local.removeWorkspace({ ...input, repo: clone, artifactsDir: dir });
      await shared.removeCopy(dir, input.taskId);
      await deleteBranches(clone, [taskBranch(input.runId, input.taskId)]);
    },

    /** On the remote, and this clone's copies. */
    async deleteBranches(input: OnRemote<'deleteBranches'>) {
      const clone = await ensureClone(deps.dataDir, input.remote);
      const deleted = await deleteRemoteBranches(clone, input.branches);
      await deleteBranches(clone, input.branches);
      return deleted;
    },

    async mergeTasks(input: OnRemote<'mergeTasks'>) {
      const { clone, dir } = await place(input.remote, input.runId);
      const integration = integrationBranch(input.runId);
      await withHeartbeat('fetch', () => fetchBranches(clone, [integration, ...input.tasks.map((t) => t.branch)]));
      // merged here on a local copy of the integration branch, then pushed; a retry fetches what an
      // earlier attempt pushed and finds those branches merged already
      await git(clone).raw(['branch', '--force', integration, tracking(integration)]);
      try {
        const merge = await local.mergeTasks({
          ...input,
          repo: clone,
          artifactsDir: dir,
          tasks: input.tasks.map((t) => ({ ...t, branch: `origin/${t.branch}` })),
        });
        const commit = await resolveCommit(clone, integration);
        await withHeartbeat('push', () => pushCommits(clone, [{ commit, branch: integration }]));
        return merge;
      } finally {
        await deleteBranches(clone, [integration]);
      }
    },

    async evaluate(input: OnRemote<'evaluate'>) {
      const { clone, dir } = await place(input.remote, input.runId);
      const integration = integrationBranch(input.runId);
      await withHeartbeat('fetch', () => fetchBranches(clone, [integration]));
      // the evaluation checks out the integration branch by name; removeEvaluation deletes this copy
      await git(clone).raw(['branch', '--force', integration, tracking(integration)]);
      return local.evaluate({ ...input, repo: clone, artifactsDir: dir });
    },

    async removeEvaluation(input: OnRemote<'removeEvaluation'>) {
      const { clone, dir } = await place(input.remote, input.runId);
      await local.removeEvaluation({ ...input, repo: clone, artifactsDir: dir });
      await deleteBranches(clone, [integrationBranch(input.runId)]);
    },

    async createSharedWorkspace(input: OnRemote<'createSharedWorkspace'>) {
      return shared.createSharedWorkspace(input);
    },

    /** Compensation: the shared workspace's ref on the remote (the hosts' copies go with their tasks). */
    async removeSharedWorkspace(input: OnRemote<'removeSharedWorkspace'> & { runId: string }) {
      await shared.removeSharedWorkspace(await ensureClone(deps.dataDir, input.remote), input.runId);
    },

    ...remoteResumeActivities(deps),
    ...remoteConflictActivities(local, place),

    /** The report goes to the run's folder on the host that writes it. */
    async writeReport(report: OnRemote<'writeReport'>) {
      return local.writeReport({ ...report, artifactsDir: dirOf(report.runId) });
    },
  };
}
