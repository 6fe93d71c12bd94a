// The activities of a run whose graph names a git remote: the same steps as on one machine, done in
// this host's own clone of the remote and its own data folder, with what a step starts from fetched
// first and what it made pushed after. Inputs without `remote` go straight to the local activities,
// unchanged. Also here: claimHost, the step by which work placed on a shared queue learns its host.
import { ApplicationFailure } from '@temporalio/common';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runArtifactsDir } from '../paths/data-folder';
import { runFilePath } from '../paths/run-folder';
import { integrationBranch, taskBranch } from '../workflows/run-types';
import { hostQueue } from '../workflows/queues';
import { createActivities, type ActivityDeps, type LocalActivities } from './index';
import { deleteBranches, git, resolveCommit } from './git';
import { withHeartbeat } from './heartbeat';
import { deleteRemoteBranches, ensureClone, fetchBranches, pushCommits, remoteBranches, tracking } from './remote-git';

export interface HostDeps {
  /** this worker's data folder: its clones, worktrees and logs */
  dataDir: string;
  /** the host name this worker serves (--host); absent: a worker of the default queue only */
  host?: string;
}

/** Every activity a worker registers. */
export function workerActivities(deps: ActivityDeps & HostDeps) {
  return heartbeating({ ...withRemote(createActivities(deps), deps), ...hostActivities(deps) }, CLEANUP_ACTIVITIES);
}

/**
 * The compensations and clean-ups (workflows' CLEANUP_ACTIVITY): they heartbeat throughout, so a
 * worker killed inside one costs the run the heartbeat timeout (10 s), not the start-to-close one.
 */
const CLEANUP_ACTIVITIES = ['removeContainers', 'deleteBranches', 'removeWorkspace', 'removeEvaluation', 'removeSharedWorkspace', 'stopGateway'] as const;

function heartbeating<T extends Record<string, unknown>>(activities: T, names: readonly (keyof T & string)[]): T {
  const wrapped: Record<string, unknown> = { ...activities };
  for (const name of names) {
    const fn = activities[name] as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = (...args: unknown[]) => withHeartbeat(name, () => fn(...args));
  }
  return wrapped as T;
}

export type WorkerActivities = ReturnType<typeof workerActivities>;

/** Inputs that may name the run's remote (and, for removeWorkspace, the run). */
interface RemoteFields {
  remote?: string;
  runId?: string;
}
type WithRemote<T> = { [K in keyof T]: T[K] extends (input: infer I) => infer R ? (input: I & RemoteFields) => R : T[K] };

export function hostActivities(deps: HostDeps) {
  return {
    /**
     * The first step of work placed on a queue several hosts serve (labels, or any host): whichever
     * host's worker takes it answers with its own queue, and the rest of the work goes there.
     */
    async claimHost(): Promise<{ host: string; queue?: string }> {
      return deps.host ? { host: deps.host, queue: hostQueue(deps.host) } : { host: os.hostname() };
    },
  };
}

export type HostActivities = ReturnType<typeof hostActivities>;

function withRemote(local: LocalActivities, deps: ActivityDeps & HostDeps): WithRemote<LocalActivities> {
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
    ...local,

    async prepareRun(input) {
      if (!input.remote) return local.prepareRun(input);
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

    async provisionWorkspace(input) {
      if (!input.remote) return local.provisionWorkspace(input);
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

    async runAgent(input) {
      if (!input.remote) return local.runAgent(input);
      const { clone, dir } = await place(input.remote, input.runId);
      return local.runAgent({ ...input, repo: clone, artifactsDir: dir });
    },

    async collectOutput(input) {
      if (!input.remote) return local.collectOutput(input);
      const { clone, dir } = await place(input.remote, input.runId);
      const stats = await local.collectOutput({ ...input, repo: clone, artifactsDir: dir });
      await withHeartbeat('push', () => pushCommits(clone, [{ commit: stats.commit, branch: taskBranch(input.runId, input.taskId) }]));
      return stats;
    },

    /** The worktree, and the task branch's copy in this clone (the remote keeps the branch). */
    async removeWorkspace(input) {
      if (!input.remote || !input.runId) return local.removeWorkspace(input);
      const { clone, dir } = await place(input.remote, input.runId);
      await local.removeWorkspace({ ...input, repo: clone, artifactsDir: dir });
      await deleteBranches(clone, [taskBranch(input.runId, input.taskId)]);
    },

    /** On the remote, and this clone's copies. */
    async deleteBranches(input) {
      if (!input.remote) return local.deleteBranches(input);
      const clone = await ensureClone(deps.dataDir, input.remote);
      const deleted = await deleteRemoteBranches(clone, input.branches);
      await deleteBranches(clone, input.branches);
      return deleted;
    },

    async mergeTasks(input) {
      if (!input.remote) return local.mergeTasks(input);
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

    async evaluate(input) {
      if (!input.remote) return local.evaluate(input);
      const { clone, dir } = await place(input.remote, input.runId);
      const integration = integrationBranch(input.runId);
      await withHeartbeat('fetch', () => fetchBranches(clone, [integration]));
      // the evaluation checks out the integration branch by name; removeEvaluation deletes this copy
      await git(clone).raw(['branch', '--force', integration, tracking(integration)]);
      return local.evaluate({ ...input, repo: clone, artifactsDir: dir });
    },

    async removeEvaluation(input) {
      if (!input.remote) return local.removeEvaluation(input);
      const { clone, dir } = await place(input.remote, input.runId);
      await local.removeEvaluation({ ...input, repo: clone, artifactsDir: dir });
      await deleteBranches(clone, [integrationBranch(input.runId)]);
    },

    /** The report goes to the run's folder on the host that writes it. */
    async writeReport(report) {
      if (!report.remote) return local.writeReport(report);
      return local.writeReport({ ...report, artifactsDir: dirOf(report.runId) });
    },
  };
}
