// Git on the host, in the user's repository (or this worker's clone of a remote) only: the run's
// branches, merges and diff stats. Nothing here runs in a folder an agent can write: merges are
// made on git's objects (`git merge-tree --write-tree`, `git commit-tree`), never in a checkout, and
// an agent's work comes in as a bundle that workspace.ts checks first. Every function is
// idempotent, because Temporal may run it again.
//
// Each git process costs the worker more than the command itself (see spawner.ts), so the common
// path runs as few as it can.
import { ApplicationFailure } from '@temporalio/common';
import * as path from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { MergeConflict, MergeReport } from '../contract/run-types';
import { runCommand } from './spawner';

const IDENTITY = ['user.name=agentvisor', 'user.email=agentvisor@localhost'];
/**
 * The repository may belong to another user than the worker's (a root worker, a user's checkout):
 * git must trust that one folder, and no other (safe.directory=* would trust an agent's too).
 */
const config = (dir: string) => [`safe.directory=${path.resolve(dir)}`, ...IDENTITY];

/** simple-git in the user's repository or a clone, for callers that want its API. */
export function git(dir: string): SimpleGit {
  return simpleGit({ baseDir: dir, config: config(dir) });
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

/** git `args` in the repository `repo` (from the command helper); stdout, or GitCommandError. */
export async function gitIn(repo: string, args: string[]): Promise<string> {
  const r = await runCommand('git', [...config(repo).flatMap((c) => ['-c', c]), ...args], repo);
  if (r.code !== 0) throw new GitCommandError(args, r.code, r.stderr || r.stdout);
  return r.stdout;
}

const FULL_SHA = /^[0-9a-f]{40}$/;

export async function branchExists(repo: string, branch: string): Promise<boolean> {
  const out = await gitIn(repo, ['branch', '--list', branch]);
  return out.trim().length > 0;
}

export async function resolveCommit(repo: string, ref: string): Promise<string> {
  return (await gitIn(repo, ['rev-parse', '--verify', '--end-of-options', `${ref}^{commit}`])).trim();
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

/** Points `branch` at `commit` (creating it), whatever it pointed at before. */
export async function setBranch(repo: string, branch: string, commit: string): Promise<void> {
  await gitIn(repo, ['update-ref', `refs/heads/${branch}`, commit]);
}

/**
 * Merges `branch` into `head` on git's objects alone, no checkout: the merge commit, or the
 * conflicting files. The repository's own attributes and drivers apply; a merged tree's
 * `.gitattributes` (an agent's) is not read.
 */
export async function mergeCommits(
  repo: string,
  head: string,
  branch: string,
  message: string,
): Promise<{ commit: string } | { conflicts: string[] }> {
  const args = ['merge-tree', '--write-tree', '--name-only', '--no-messages', head, branch];
  const r = await runCommand('git', [...config(repo).flatMap((c) => ['-c', c]), ...args], repo);
  const [tree, ...rest] = r.stdout.split('\n');
  if (r.code === 1) return { conflicts: [...new Set(rest.filter(Boolean))] };
  if (r.code !== 0 || !FULL_SHA.test(tree)) throw new GitCommandError(args, r.code, r.stderr || r.stdout);
  const theirs = await resolveCommit(repo, branch);
  const commit = (await gitIn(repo, ['commit-tree', tree, '-p', head, '-p', theirs, '-m', message])).trim();
  return { commit };
}

/**
 * The commit a task starts from: `startPoint` with the dependency branches merged in, and the
 * task's branch made there. Fails the task when the dependencies' work conflicts when combined.
 */
export async function startTaskBranch(opts: { repo: string; branch: string; startPoint: string; merge: string[] }): Promise<string> {
  let head = FULL_SHA.test(opts.startPoint) ? opts.startPoint : await resolveCommit(opts.repo, opts.startPoint);
  for (const dep of opts.merge) {
    const merged = await mergeCommits(opts.repo, head, dep, `agentvisor: start from ${dep}`);
    if ('conflicts' in merged) {
      throw ApplicationFailure.nonRetryable(
        `the work of the tasks this one depends on conflicts when combined (${dep}; files: ${merged.conflicts.join(', ') || 'unknown'})`,
        'DependencyConflict',
      );
    }
    head = merged.commit;
  }
  await setBranch(opts.repo, opts.branch, head);
  return head;
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

/** Between two commits of the repository, on objects (no external diff driver runs). */
export async function diffStats(repo: string, from: string, to: string): Promise<DiffStats> {
  const numstat = await gitIn(repo, ['diff', '--no-ext-diff', '--no-textconv', '--numstat', from, to]);
  let insertions = 0;
  let deletions = 0;
  const files: string[] = [];
  for (const line of numstat.split('\n').filter(Boolean)) {
    const [add, del, file] = line.split('\t');
    insertions += Number(add) || 0; // '-' for binary files
    deletions += Number(del) || 0;
    files.push(file);
  }
  return { commit: await resolveCommit(repo, to), filesChanged: files.length, insertions, deletions, files };
}

/**
 * Merges task branches into the integration branch in the given order, on objects (the user's
 * checkout is never touched, no worktree is made). Branches already merged (a retry) are skipped.
 * The first conflict stops the merge; the integration branch keeps the merges before it.
 */
export async function mergeTaskBranches(opts: {
  repo: string;
  integrationBranch: string;
  tasks: { taskId: string; branch: string; files: string[] }[];
}): Promise<MergeReport> {
  const start = await resolveCommit(opts.repo, opts.integrationBranch);
  // one process for all: the branches a retry already merged
  const done = opts.tasks.length
    ? new Set(
        (await gitIn(opts.repo, ['branch', '--format=%(refname:short)', '--merged', start, '--list', ...opts.tasks.map((t) => t.branch)]))
          .split('\n')
          .filter(Boolean),
      )
    : new Set<string>();
  let head = start;
  const advance = async () => {
    // only from where this merge began: anything else moved the branch meanwhile
    if (head !== start) await gitIn(opts.repo, ['update-ref', `refs/heads/${opts.integrationBranch}`, head, start]);
  };
  const merged: { taskId: string; files: string[] }[] = [];
  for (const task of opts.tasks) {
    if (!done.has(task.branch)) {
      const result = await mergeCommits(opts.repo, head, task.branch, `agentvisor: merge ${task.taskId}`);
      if ('conflicts' in result) {
        const files = result.conflicts;
        const conflictsWith = merged.filter((m) => m.files.some((f) => files.includes(f))).map((m) => m.taskId);
        const conflict: MergeConflict = { taskId: task.taskId, conflictsWith, files };
        await advance();
        return { status: 'conflict', conflicts: [conflict], commit: head };
      }
      head = result.commit;
    }
    merged.push(task);
  }
  await advance();
  return { status: 'merged', conflicts: [], commit: head };
}

export async function isAncestor(repo: string, ancestor: string, of: string): Promise<boolean> {
  const r = await runCommand('git', [...config(repo).flatMap((c) => ['-c', c]), 'merge-base', '--is-ancestor', ancestor, of], repo);
  return r.code === 0;
}
