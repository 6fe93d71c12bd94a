// Git side effects: the run's branches, each task's worktree, committing an agent's changes and
// merging task branches. Every function is idempotent, because Temporal may run it again.
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { lchown, mkdir, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { GitResponseError, simpleGit, type MergeSummary, type SimpleGit } from 'simple-git';
import type { MergeConflict, MergeReport } from '../workflows/run-types';

const IDENTITY = ['user.name=agentvisor', 'user.email=agentvisor@localhost'];

/** Worktrees hold files written by the container's non-root user; git must still trust them. */
export function git(dir: string, extraConfig: string[] = []): SimpleGit {
  return simpleGit({ baseDir: dir, config: ['safe.directory=*', ...IDENTITY, ...extraConfig] });
}

export async function branchExists(repo: string, branch: string): Promise<boolean> {
  const out = await git(repo).raw(['branch', '--list', branch]);
  return out.trim().length > 0;
}

export async function resolveCommit(repo: string, ref: string): Promise<string> {
  return (await git(repo).revparse([`${ref}^{commit}`])).trim();
}

/** Creates the integration branch at the base commit (once) and returns the base commit. */
export async function createIntegrationBranch(repo: string, baseBranch: string, branch: string): Promise<string> {
  if (await branchExists(repo, branch)) {
    // A retry: the branch was made by the first attempt; its first-parent root is the base.
    return (await git(repo).raw(['merge-base', branch, baseBranch])).trim();
  }
  const base = await resolveCommit(repo, baseBranch);
  await git(repo).raw(['branch', branch, base]);
  return base;
}

export interface Worktree {
  path: string;
  branch: string;
  startCommit: string;
}

/**
 * A fresh worktree on a new task branch at `startPoint`, with the dependency branches merged in.
 * A leftover from an earlier attempt is removed first: provisioning happens before the agent runs,
 * so nothing of value can be in it.
 */
export async function addTaskWorktree(opts: {
  repo: string;
  path: string;
  branch: string;
  startPoint: string;
  merge: string[];
  owner?: { uid: number; gid: number };
}): Promise<Worktree> {
  await removeWorktree(opts.repo, opts.path);
  if (await branchExists(opts.repo, opts.branch)) await git(opts.repo).raw(['branch', '-D', opts.branch]);
  await mkdir(path.dirname(opts.path), { recursive: true });
  await git(opts.repo).raw(['worktree', 'add', '-b', opts.branch, opts.path, opts.startPoint]);

  const wt = git(opts.path);
  for (const dep of opts.merge) {
    try {
      await wt.merge(['--no-ff', '--no-edit', '-m', `agentvisor: start from ${dep}`, dep]);
    } catch (err) {
      const files = conflictFiles(err);
      await wt.merge(['--abort']).catch(() => undefined);
      await removeWorktree(opts.repo, opts.path);
      await git(opts.repo).raw(['branch', '-D', opts.branch]);
      throw ApplicationFailure.nonRetryable(
        `the work of the tasks this one depends on conflicts when combined (${dep}; files: ${files.join(', ') || 'unknown'})`,
        'DependencyConflict',
      );
    }
  }
  if (opts.owner) await chownTree(opts.path, opts.owner.uid, opts.owner.gid);
  return { path: opts.path, branch: opts.branch, startCommit: await resolveCommit(opts.path, 'HEAD') };
}

/** Back to the commit the task started from: what a killed agent left half-done is discarded. */
export async function resetWorktree(worktreePath: string, commit: string, owner?: { uid: number; gid: number }): Promise<void> {
  const wt = git(worktreePath);
  await wt.raw(['reset', '--hard', '--quiet', commit]);
  await wt.raw(['clean', '-ffdxq']);
  // git may rewrite files (as the worker's user) whose ownership changed since checkout
  if (owner) await chownTree(worktreePath, owner.uid, owner.gid);
}

export async function removeWorktree(repo: string, worktreePath: string): Promise<void> {
  if (existsSync(worktreePath)) {
    await git(repo).raw(['worktree', 'remove', '--force', '--force', worktreePath]).catch(() => undefined);
    await rm(worktreePath, { recursive: true, force: true });
  }
  await git(repo).raw(['worktree', 'prune']);
}

export async function deleteBranches(repo: string, branches: string[]): Promise<string[]> {
  const deleted: string[] = [];
  for (const branch of branches) {
    if (await branchExists(repo, branch)) {
      await git(repo).raw(['branch', '-D', branch]);
      deleted.push(branch);
    }
  }
  return deleted;
}

/** Branches whose names start with the prefix (e.g. agentvisor-tasks/<run id>/). */
export async function branchesWithPrefix(repo: string, prefix: string): Promise<string[]> {
  const out = await git(repo).raw(['for-each-ref', '--format=%(refname:short)', `refs/heads/${prefix}`]);
  return out.split('\n').filter(Boolean);
}

export interface DiffStats {
  commit: string;
  filesChanged: number;
  insertions: number;
  deletions: number;
  files: string[];
}

/**
 * Commits whatever the agent left in the worktree, as the agent. Idempotent: a second call finds
 * nothing to commit and reports the same commit and stats.
 */
export async function commitWorktree(opts: {
  worktree: string;
  startCommit: string;
  author: string;
  message: string;
}): Promise<DiffStats> {
  const wt = git(opts.worktree);
  await wt.raw(['add', '--all']);
  const staged = await wt.raw(['diff', '--cached', '--name-only']);
  if (staged.trim()) {
    const email = `${opts.author.replace(/[^A-Za-z0-9._-]/g, '-')}@agents.agentvisor`;
    await wt.raw(['commit', '--no-verify', '--author', `${opts.author} <${email}>`, '-m', opts.message]);
  }
  return diffStats(opts.worktree, opts.startCommit, 'HEAD');
}

export async function diffStats(dir: string, from: string, to: string): Promise<DiffStats> {
  const numstat = await git(dir).raw(['diff', '--numstat', from, to]);
  let insertions = 0;
  let deletions = 0;
  const files: string[] = [];
  for (const line of numstat.split('\n').filter(Boolean)) {
    const [add, del, file] = line.split('\t');
    insertions += Number(add) || 0; // '-' for binary files
    deletions += Number(del) || 0;
    files.push(file);
  }
  return { commit: await resolveCommit(dir, to), filesChanged: files.length, insertions, deletions, files };
}

/**
 * Merges task branches into the integration branch in the given order, in a worktree of its own so
 * the user's checkout is never touched. Branches already merged (a retry) are skipped. The first
 * conflict stops the merge; the integration branch keeps the merges before it.
 */
export async function mergeTaskBranches(opts: {
  repo: string;
  worktree: string;
  integrationBranch: string;
  tasks: { taskId: string; branch: string; files: string[] }[];
}): Promise<MergeReport> {
  await removeWorktree(opts.repo, opts.worktree);
  await mkdir(path.dirname(opts.worktree), { recursive: true });
  await git(opts.repo).raw(['worktree', 'add', opts.worktree, opts.integrationBranch]);
  const wt = git(opts.worktree);
  try {
    const merged: { taskId: string; files: string[] }[] = [];
    for (const task of opts.tasks) {
      if (!(await isAncestor(opts.worktree, task.branch, 'HEAD'))) {
        try {
          await wt.merge(['--no-ff', '--no-edit', '-m', `agentvisor: merge ${task.taskId}`, task.branch]);
        } catch (err) {
          const files = conflictFiles(err);
          await wt.merge(['--abort']).catch(() => undefined);
          const conflictsWith = merged.filter((m) => m.files.some((f) => files.includes(f))).map((m) => m.taskId);
          const conflict: MergeConflict = { taskId: task.taskId, conflictsWith, files };
          return { status: 'conflict', conflicts: [conflict], commit: await resolveCommit(opts.worktree, 'HEAD') };
        }
      }
      merged.push(task);
    }
    return { status: 'merged', conflicts: [], commit: await resolveCommit(opts.worktree, 'HEAD') };
  } finally {
    await removeWorktree(opts.repo, opts.worktree);
  }
}

/** simple-git resolves non-zero exits with empty stderr, so compare commits instead of exit codes. */
export async function isAncestor(dir: string, ancestor: string, of: string): Promise<boolean> {
  const [base, commit] = await Promise.all([
    git(dir).raw(['merge-base', ancestor, of]).then((s) => s.trim(), () => ''),
    resolveCommit(dir, ancestor),
  ]);
  return base === commit;
}

/** A detached worktree at a commit, for evaluation. */
export async function addDetachedWorktree(repo: string, worktreePath: string, ref: string, owner?: { uid: number; gid: number }) {
  await removeWorktree(repo, worktreePath);
  await mkdir(path.dirname(worktreePath), { recursive: true });
  await git(repo).raw(['worktree', 'add', '--detach', worktreePath, ref]);
  if (owner) await chownTree(worktreePath, owner.uid, owner.gid);
}

function conflictFiles(err: unknown): string[] {
  if (err instanceof GitResponseError) {
    const summary = err.git as MergeSummary;
    if (summary?.conflicts) return [...new Set(summary.conflicts.map((c) => c.file).filter((f): f is string => !!f))];
  }
  return [];
}

/** lchown, never chown: a symlink in the repository must not hand its target to the agent. */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await lchown(p, uid, gid);
  }
}
