// The sweeper: removes what a hard crash left behind, found by agentvisor's own labels and folders,
// and only for runs that are not running. It never touches anything agentvisor did not create.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { branchesWithPrefix, deleteBranches, gitIn } from '../activities/git';
import { dirOfImage, releaseLimitedDir, releaseLimitedDirsUnder, settleLimitedDir } from '../activities/disk-limit';
import { releaseOverlaysUnder } from '../activities/workspace-overlay';
import { LABEL_RUN, LABEL_SCOPE, type ContainerRuntime } from '../runtimes/runtime';
import { integrationBranch } from '../contract/run-types';
import { runArtifactsDir, runsDir } from '../paths/data-folder';
import { collectRoot, runFilePath, sharedCopiesDir, sharedDir, worktreesDir } from '../paths/run-folder';

export interface GcOptions {
  client: Client;
  /** the cluster the client talks to (namespace@address): only its runs' containers are judged */
  scope: string;
  runtime: ContainerRuntime;
  dataDir: string;
  dryRun?: boolean;
  /** also delete the branches of runs that did not complete (failed, cancelled, terminated, unknown) */
  branches?: boolean;
}

export interface GcReport {
  containers: string[];
  /** networks of runs (Kubernetes: their NetworkPolicy and Service), where the runtime lists them */
  networks: string[];
  worktrees: string[];
  branches: string[];
  /** shared workspaces made plain folders (no longer a mounted filesystem of their disk limit) */
  settled: string[];
  skippedRunning: string[];
}

export async function collectGarbage(opts: GcOptions): Promise<GcReport> {
  const report: GcReport = { containers: [], networks: [], worktrees: [], branches: [], settled: [], skippedRunning: [] };
  const statusCache = new Map<string, string>();
  const statusOf = async (runId: string) => {
    if (!statusCache.has(runId)) statusCache.set(runId, await runStatus(opts.client, runId));
    return statusCache.get(runId)!;
  };

  for (const c of await opts.runtime.list({ [LABEL_RUN]: '', [LABEL_SCOPE]: opts.scope })) {
    const runId = c.labels[LABEL_RUN];
    if ((await statusOf(runId)) === 'RUNNING') {
      report.skippedRunning.push(runId);
      continue;
    }
    report.containers.push(c.name);
    if (!opts.dryRun) await opts.runtime.remove(c.name);
  }

  for (const n of (await opts.runtime.listNetworks?.({ [LABEL_RUN]: '', [LABEL_SCOPE]: opts.scope })) ?? []) {
    const runId = n.labels[LABEL_RUN];
    if ((await statusOf(runId)) === 'RUNNING') {
      if (!report.skippedRunning.includes(runId)) report.skippedRunning.push(runId);
      continue;
    }
    report.networks.push(n.name);
    if (!opts.dryRun) await opts.runtime.removeNetwork(n.name);
  }

  const runs = runsDir(opts.dataDir);
  for (const runId of existsSync(runs) ? readdirSync(runs) : []) {
    const dir = runArtifactsDir(opts.dataDir, runId);
    const runFile = runFilePath(dir);
    if (!existsSync(runFile)) continue;
    const { repo, scope } = JSON.parse(readFileSync(runFile, 'utf8')) as { repo: string; scope?: string };
    if (scope && scope !== opts.scope) continue; // another cluster's run: not ours to judge
    const status = await statusOf(runId);
    if (status === 'RUNNING') {
      if (!report.skippedRunning.includes(runId)) report.skippedRunning.push(runId);
      continue;
    }
    const worktrees = worktreesDir(dir);
    // copy-on-write workspaces first (activities/workspace-overlay.ts): unmounted, their layers removed
    if (!opts.dryRun) report.worktrees.push(...(await releaseOverlaysUnder(worktrees)));
    const names = existsSync(worktrees) ? readdirSync(worktrees) : [];
    // a worktree with a disk limit is a mounted filesystem with its image beside it (activities/disk-limit.ts)
    const folders = new Set([...names.filter((n) => !dirOfImage(n)), ...names.map((n) => dirOfImage(n)).filter((d): d is string => !!d)]);
    for (const name of folders) {
      const wt = path.join(worktrees, name);
      report.worktrees.push(wt);
      if (!opts.dryRun) await releaseLimitedDir(wt); // unmounts a disk-limited one, then deletes it
    }
    // a collector's output folders (activities/workspace.ts), disk-limited ones too
    if (!opts.dryRun) {
      await releaseLimitedDirsUnder(collectRoot(dir));
      rmSync(collectRoot(dir), { recursive: true, force: true });
    }
    // a workspace is the agent's own repository now; a run of an earlier version made worktrees,
    // whose registrations in the repository go too (prune reads only the repository's own .git)
    if (!opts.dryRun && existsSync(worktrees) && existsSync(repo)) {
      await gitIn(repo, ['worktree', 'prune']);
    }
    // a host's copies of a remote run's shared workspace (activities/remote-shared.ts), disk-limited ones too
    const copies = sharedCopiesDir(dir);
    if (!opts.dryRun && existsSync(copies)) {
      for (const task of readdirSync(copies)) await releaseLimitedDirsUnder(path.join(copies, task));
      rmSync(copies, { recursive: true, force: true });
    }
    // a kept shared workspace of a run that is over: the same files, in a plain folder (no mount)
    const shared = sharedDir(dir);
    if (!opts.dryRun && (await settleLimitedDir(shared))) report.settled.push(shared);
    if (opts.branches && status !== 'COMPLETED' && existsSync(repo)) {
      const branches = [integrationBranch(runId), ...(await branchesWithPrefix(repo, `agentvisor-tasks/${runId}/`))];
      const present = opts.dryRun ? branches : await deleteBranches(repo, branches);
      report.branches.push(...present.map((b) => `${repo}:${b}`));
    }
  }
  return report;
}

async function runStatus(client: Client, runId: string): Promise<string> {
  try {
    return (await client.workflow.getHandle(runId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'UNKNOWN';
    throw err; // Temporal unreachable: do not guess whether a run is alive
  }
}
