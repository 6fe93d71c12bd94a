// Git side effects: the run's branches, each task's worktree, committing an agent's changes and
// merging task branches. Every function is idempotent, because Temporal may run it again.
//
// Each git process costs the worker more than the command itself (see spawner.ts), so the common
// path runs as few as it can: the fuller clean-up runs only when the quick way finds leftovers.
import { ApplicationFailure } from '@temporalio/common';
import { lchown, mkdir, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { MergeConflict, MergeReport } from '../workflows/run-types';
import { runCommand } from './spawner';

const IDENTITY = ['user.name=agentvisor', 'user.email=agentvisor@localhost'];
/** Worktrees hold files written by the container's non-root user; git must still trust them. */
const CONFIG = ['safe.directory=*', ...IDENTITY];

/** simple-git, for callers that want its API; this file's own commands go through `gitIn`. */
export function git(dir: string, extraConfig: string[] = []): SimpleGit {
  return simpleGit({ baseDir: dir, config: [...CONFIG, ...extraConfig] });
}

export class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    super(`git ${args.join(' ')} failed (exit ${exitCode}): ${stderr.trim() || 'no message'}`);
  }
}

/** git `args` in `dir` (from the command helper); its stdout, or GitCommandError on a non-zero exit. */
export async function gitIn(dir: string, args: string[]): Promise<string> {
  const r = await runCommand('git', [...CONFIG.flatMap((c) => ['-c', c]), ...args], dir);
  if (r.code !== 0) throw new GitCommandError(args, r.code, r.stderr || r.stdout);
  return r.stdout;
}

/**
 * Concurrent `git worktree add/remove/prune` in one repository race in git 2.39 ("failed to read
 * .git/worktrees/<name>/commondir", about one add in a hundred when 30 run at once; a prune can take
 * a worktree being added): one at a time per repository in this process. Only the bookkeeping is
 * serialised; checking files out and deleting them run outside (see addWorktree, removeWorktree).
 * (Workers sharing a repository are not covered.)
 */
const worktreeLocks = new Map<string, Promise<unknown>>();
function worktreeCommand(repo: string, args: string[]): Promise<string> {
  const key = path.resolve(repo);
  const before = worktreeLocks.get(key) ?? Promise.resolve();
  const mine = before.catch(() => undefined).then(() => gitIn(repo, ['worktree', ...args]));
  const tail = mine.catch(() => undefined);
  worktreeLocks.set(key, tail);
  void tail.then(() => {
    if (worktreeLocks.get(key) === tail) worktreeLocks.delete(key);
  });
  return mine;
}

const FULL_SHA = /^[0-9a-f]{40}$/;

export async function branchExists(repo: string, branch: string): Promise<boolean> {
  const out = await gitIn(repo, ['branch', '--list', branch]);
  return out.trim().length > 0;
}

export async function resolveCommit(repo: string, ref: string): Promise<string> {
  return (await gitIn(repo, ['rev-parse', '--verify', `${ref}^{commit}`])).trim();
}

/** Creates the integration branch at the base commit (once) and returns the base commit. */
export async function createIntegrationBranch(repo: string, baseBranch: string, branch: string): Promise<string> {
  const base = await resolveCommit(repo, baseBranch);
  try {
    await gitIn(repo, ['branch', branch, base]);
    return base;
  } catch (err) {
    if (!(await branchExists(repo, branch))) throw err;
    // A retry: the branch was made by the first attempt; its first-parent root is the base.
    return (await gitIn(repo, ['merge-base', branch, baseBranch])).trim();
  }
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
  // -B makes or resets the branch; a leftover worktree at the path (or its registration) makes
  // the add fail, and then goes before a second try
  await addWorktree(opts.repo, opts.path, ['-B', opts.branch, opts.path, opts.startPoint]);

  for (const dep of opts.merge) {
    const files = await mergeOrAbort(opts.path, dep, `agentvisor: start from ${dep}`);
    if (files) {
      await removeWorktree(opts.repo, opts.path);
      await gitIn(opts.repo, ['branch', '-D', opts.branch]);
      throw ApplicationFailure.nonRetryable(
        `the work of the tasks this one depends on conflicts when combined (${dep}; files: ${files.join(', ') || 'unknown'})`,
        'DependencyConflict',
      );
    }
  }
  if (opts.owner) await chownTree(opts.path, opts.owner.uid, opts.owner.gid);
  const startCommit = opts.merge.length === 0 && FULL_SHA.test(opts.startPoint) ? opts.startPoint : await resolveCommit(opts.path, 'HEAD');
  return { path: opts.path, branch: opts.branch, startCommit };
}

/**
 * `git worktree add --no-checkout <addArgs>`, then the checkout in the new worktree, outside the
 * repository's worktree lock (on a large repository that is most of the time). On failure, clears
 * leftovers at the path and tries once more.
 */
async function addWorktree(repo: string, worktreePath: string, addArgs: string[]): Promise<void> {
  await mkdir(path.dirname(worktreePath), { recursive: true });
  try {
    await worktreeCommand(repo, ['add', '--quiet', '--no-checkout', ...addArgs]);
  } catch {
    await removeWorktree(repo, worktreePath);
    await worktreeCommand(repo, ['add', '--quiet', '--no-checkout', ...addArgs]);
  }
  // (checkout, not reset: the repository's post-checkout hook runs, as with a plain worktree add)
  await gitIn(worktreePath, ['checkout', '--force', '--quiet']);
}

/** `git merge --no-ff`; undefined when it merged, else the conflicting files (the merge aborted). */
async function mergeOrAbort(worktree: string, branch: string, message: string): Promise<string[] | undefined> {
  try {
    await gitIn(worktree, ['merge', '--no-ff', '--no-edit', '-m', message, branch]);
    return undefined;
  } catch {
    const unmerged = await gitIn(worktree, ['diff', '--name-only', '--diff-filter=U']).catch(() => '');
    await gitIn(worktree, ['merge', '--abort']).catch(() => undefined);
    return [...new Set(unmerged.split('\n').filter(Boolean))];
  }
}

/** Back to the commit the task started from: what a killed agent left half-done is discarded. */
export async function resetWorktree(worktreePath: string, commit: string, owner?: { uid: number; gid: number }): Promise<void> {
  await gitIn(worktreePath, ['reset', '--hard', '--quiet', commit]);
  await gitIn(worktreePath, ['clean', '-ffdxq']);
  // git may rewrite files (as the worker's user) whose ownership changed since checkout
  if (owner) await chownTree(worktreePath, owner.uid, owner.gid);
}

/** The worktree's files (outside the lock), then its registration (`git worktree prune`). */
export async function removeWorktree(repo: string, worktreePath: string): Promise<void> {
  await rm(worktreePath, { recursive: true, force: true });
  await worktreeCommand(repo, ['prune']);
}

export async function deleteBranches(repo: string, branches: string[]): Promise<string[]> {
  if (branches.length === 0) return [];
  const wanted = new Set(branches);
  const existing = (await gitIn(repo, ['for-each-ref', '--format=%(refname:short)', ...branches.map((b) => `refs/heads/${b}`)]))
    .split('\n')
    .filter((b) => wanted.has(b));
  if (existing.length) await gitIn(repo, ['branch', '-D', ...existing]);
  return branches.filter((b) => existing.includes(b));
}

/** Branches whose names start with the prefix (e.g. agentvisor-tasks/<run id>/). */
export async function branchesWithPrefix(repo: string, prefix: string): Promise<string[]> {
  const out = await gitIn(repo, ['for-each-ref', '--format=%(refname:short)', `refs/heads/${prefix}`]);
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
  await gitIn(opts.worktree, ['add', '--all']);
  const email = `${opts.author.replace(/[^A-Za-z0-9._-]/g, '-')}@agents.agentvisor`;
  try {
    await gitIn(opts.worktree, ['commit', '--no-verify', '--quiet', '--author', `${opts.author} <${email}>`, '-m', opts.message]);
  } catch (err) {
    // nothing staged (a retry, or an agent that changed nothing) is not an error
    const nothingStaged = await gitIn(opts.worktree, ['diff', '--cached', '--quiet']).then(() => true, () => false);
    if (!nothingStaged) throw err;
  }
  return diffStats(opts.worktree, opts.startCommit, 'HEAD');
}

export async function diffStats(dir: string, from: string, to: string): Promise<DiffStats> {
  const numstat = await gitIn(dir, ['diff', '--numstat', from, to]);
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
  await addWorktree(opts.repo, opts.worktree, [opts.worktree, opts.integrationBranch]);
  try {
    // one process for all: the branches a retry already merged
    const done = opts.tasks.length
      ? new Set(
          (await gitIn(opts.worktree, ['branch', '--format=%(refname:short)', '--merged', 'HEAD', '--list', ...opts.tasks.map((t) => t.branch)]))
            .split('\n')
            .filter(Boolean),
        )
      : new Set<string>();
    const merged: { taskId: string; files: string[] }[] = [];
    for (const task of opts.tasks) {
      if (!done.has(task.branch)) {
        const files = await mergeOrAbort(opts.worktree, task.branch, `agentvisor: merge ${task.taskId}`);
        if (files) {
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

export async function isAncestor(dir: string, ancestor: string, of: string): Promise<boolean> {
  const r = await runCommand('git', [...CONFIG.flatMap((c) => ['-c', c]), 'merge-base', '--is-ancestor', ancestor, of], dir);
  return r.code === 0;
}

/** A detached worktree at a commit, for evaluation. */
export async function addDetachedWorktree(repo: string, worktreePath: string, ref: string, owner?: { uid: number; gid: number }) {
  await addWorktree(repo, worktreePath, ['--detach', worktreePath, ref]);
  if (owner) await chownTree(worktreePath, owner.uid, owner.gid);
}

/**
 * lchown, never chown: a symlink in the repository must not hand its target to the agent. A
 * folder's entries are changed all at once (libuv's thread pool), not one awaited call after the
 * other: on a repository of tens of thousands of files that was most of a worktree's set-up.
 */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  let folders = [dir];
  while (folders.length) {
    const next: string[] = [];
    await Promise.all(
      folders.map(async (folder) => {
        const entries = await readdir(folder, { withFileTypes: true });
        await Promise.all(
          entries.map((entry) => {
            const p = path.join(folder, entry.name);
            if (entry.isDirectory()) next.push(p);
            return lchown(p, uid, gid);
          }),
        );
      }),
    );
    folders = next;
  }
}
