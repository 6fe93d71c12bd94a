// Seeing and taking a run's work in the user's repository: its diff, a branch (or worktree) of it,
// and a merge of it into a branch of the user's. The commits come from the run's report, and git
// runs only in the user's repository (user-repo.ts), never in an agent's workspace.
import * as path from 'node:path';
import { BadInputError } from '../graph/problems';
import { integrationBranch, type RunReport, type TaskReport } from '../contract/run-types';
import { didYouMean } from './run-ids';
import { commitIdentity, commitOf, gitInUserRepo, userGit, worktrees } from './user-repo';

/** The commits to compare (or take) for a run, or for one task of it. */
export interface WorkRange {
  repo: string;
  /** the commit the work starts from: the run's base commit, or the task's start commit */
  from: string;
  /** the run's integration commit, or the task's commit */
  to: string;
  /** set when the task's own start commit could not be told apart: `from` is then the run's base */
  note?: string;
}

/** Problems with a run's state (not found, not finished, no work) are bad input: exit 2, nothing done. */
const refuse = (message: string) => new BadInputError([{ message }]);

/** The task of the run with that id, or bad input naming the run's tasks. */
export function taskOf(report: RunReport, taskId: string): TaskReport {
  const task = report.tasks.find((t) => t.id === taskId);
  if (task) return task;
  const ids = report.tasks.map((t) => t.id);
  const guess = didYouMean(taskId, ids);
  throw refuse(
    `run ${report.runId} has no task "${taskId}"${guess ? ` (did you mean ${guess}?)` : ''}; its tasks: ${ids.join(', ') || 'none'}`,
  );
}

function localRepo(report: RunReport): string {
  if (report.remote) {
    throw refuse(
      `run ${report.runId} keeps its branches on the remote ${report.remote}, not in a local repository: ` +
        `git fetch ${report.remote} '${integrationBranch(report.runId)}' and use git there`,
    );
  }
  return report.repo;
}

async function requireCommit(repo: string, commit: string | undefined, what: string): Promise<string> {
  const found = commit && (await commitOf(repo, commit));
  if (!found) throw refuse(`${what} is not in ${repo} (any more)`);
  return found;
}

/** The run's work (base commit to integration commit), or a task's (its start commit to its commit). */
export async function workRange(report: RunReport, taskId?: string): Promise<WorkRange> {
  const repo = localRepo(report);
  if (!report.baseCommit) throw refuse(`run ${report.runId} has no base commit yet`);
  const base = await requireCommit(repo, report.baseCommit, `the base commit ${report.baseCommit} of run ${report.runId}`);
  if (!taskId) {
    const integration = report.merge.commit ?? (await commitOf(repo, integrationBranch(report.runId)));
    if (!integration) throw refuse(`run ${report.runId} has no merged work (${report.status}, merge ${report.merge.status})`);
    return { repo, from: base, to: await requireCommit(repo, integration, `the integration commit of run ${report.runId}`) };
  }
  const task = taskOf(report, taskId);
  if (!task.commit) throw refuse(`task ${task.id} of run ${report.runId} has no work (${task.status})`);
  const to = await requireCommit(repo, task.commit, `the commit ${task.commit} of task ${task.id}`);
  const start = await taskStartCommit(repo, base, to, dependencyCommits(report, task));
  if (start) return { repo, from: start, to };
  return { repo, from: base, to, note: `the start commit of task ${task.id} could not be found: compared with the run's base commit` };
}

function dependencyCommits(report: RunReport, task: TaskReport): string[] {
  return (task.after ?? []).map((id) => report.tasks.find((t) => t.id === id)?.commit).filter((c): c is string => !!c);
}

/**
 * A task starts from the base commit with its dependencies' commits merged in, one merge commit
 * each, on the base's first-parent line (activities/git.ts: startTaskBranch); the agent's commits
 * come after. The start is found from the base upwards, never by what an agent can write (a commit
 * message): the n commits right above the base on the task's first-parent line must each merge one
 * dependency's recorded commit into the one before. Undefined when they do not.
 */
async function taskStartCommit(repo: string, base: string, tip: string, deps: string[]): Promise<string | undefined> {
  if (deps.length === 0) return base;
  const lines = (await userGit(repo, ['rev-list', '--first-parent', '--parents', '--reverse', `${base}..${tip}`]))
    .split('\n')
    .filter(Boolean);
  const wanted = new Set(deps);
  let previous = base;
  for (const line of lines.slice(0, deps.length)) {
    const [commit, first, second, ...more] = line.split(' ');
    if (first !== previous || !second || more.length || !wanted.delete(second)) return undefined;
    previous = commit;
  }
  return wanted.size === 0 ? previous : undefined;
}

export interface DiffOptions {
  task?: string;
  stat?: boolean;
  color?: boolean;
}

/** `git diff` of the work, as text; no diff driver or text conversion runs (an agent's attributes may name one). */
export async function runDiff(report: RunReport, opts: DiffOptions = {}): Promise<WorkRange & { text: string }> {
  const range = await workRange(report, opts.task);
  const args = ['diff', '--no-ext-diff', '--no-textconv', `--color=${opts.color ? 'always' : 'never'}`];
  if (opts.stat) args.push('--stat');
  const text = await userGit(range.repo, [...args, range.from, range.to, '--']);
  return { ...range, text };
}

export interface CheckoutOptions {
  task?: string;
  /** the new branch's name (default: the run id, or RUN-TASK) */
  branch?: string;
  /** make a worktree there instead of switching the repository's own checkout */
  worktree?: string;
}

export interface CheckoutResult {
  repo: string;
  branch: string;
  commit: string;
  /** the worktree made, when --worktree was given */
  worktree?: string;
}

/** A new branch of the user's at the run's (or task's) work, checked out in the repository or a new worktree. */
export async function checkoutRun(report: RunReport, opts: CheckoutOptions = {}): Promise<CheckoutResult> {
  const { repo, to } = await workRange(report, opts.task);
  const branch = opts.branch ?? (opts.task ? `${report.runId}-${opts.task}` : report.runId);
  const valid = await gitInUserRepo(repo, ['check-ref-format', '--branch', branch]);
  if (valid.code !== 0) throw refuse(`"${branch}" is not a valid branch name`);
  if (await commitOf(repo, `refs/heads/${branch}`)) throw refuse(`branch ${branch} already exists in ${repo}: name another with --branch`);
  if (opts.worktree) {
    const dir = path.resolve(opts.worktree);
    await userGit(repo, ['worktree', 'add', '-b', branch, '--', dir, to]);
    return { repo, branch, commit: to, worktree: dir };
  }
  await userGit(repo, ['switch', '-c', branch, to]);
  return { repo, branch, commit: to };
}

export interface MergeResult {
  repo: string;
  branch: string;
  /** the branch's commit before and after */
  before: string;
  after: string;
  how: 'up-to-date' | 'fast-forward' | 'merge';
  /** the worktree whose checkout followed the branch, when the branch is checked out */
  worktree?: string;
}

/**
 * Merges a completed run's integration commit into the user's branch `into`. The merge is made on
 * git's objects first (`git merge-tree`): on a conflict nothing is changed. A branch checked out
 * in a worktree moves with `git merge --ff-only` there (its files follow; git refuses, changing
 * nothing, when local changes are in the way); any other branch moves with a compare-and-swap.
 */
export async function mergeRun(report: RunReport, into: string, dataDir: string): Promise<MergeResult> {
  if (report.status !== 'completed') throw refuse(`run ${report.runId} is ${report.status}: only a completed run's work can be merged`);
  const { repo, to: work } = await workRange(report);
  if (into.startsWith('agentvisor/') || into.startsWith('agentvisor-tasks/')) {
    throw refuse(`${into} is one of agentvisor's own branches: merge into a branch of yours`);
  }
  const before = await commitOf(repo, `refs/heads/${into}`);
  if (!before) throw refuse(`no branch ${into} in ${repo}`);
  const checkedOut = (await worktrees(repo)).find((w) => w.branch === into);
  if (checkedOut && isInside(checkedOut.path, dataDir))
    throw refuse(`${into} is checked out in ${checkedOut.path}, a folder of agentvisor's`);

  const result = { repo, branch: into, before, worktree: checkedOut?.path };
  if ((await gitInUserRepo(repo, ['merge-base', '--is-ancestor', work, before])).code === 0) {
    return { ...result, after: before, how: 'up-to-date' };
  }
  let after = work;
  let how: MergeResult['how'] = 'fast-forward';
  if ((await gitInUserRepo(repo, ['merge-base', '--is-ancestor', before, work])).code !== 0) {
    const merged = await gitInUserRepo(repo, ['merge-tree', '--write-tree', '--name-only', '--no-messages', before, work]);
    const [tree, ...files] = merged.stdout.split('\n').filter(Boolean);
    if (merged.code === 1) {
      throw new Error(`run ${report.runId} conflicts with ${into} in ${files.join(', ') || 'some files'}: nothing was changed`);
    }
    if (merged.code !== 0) throw new Error(`git merge-tree failed: ${merged.stderr.trim()}`);
    const message = `Merge agentvisor run ${report.runId} into ${into}`;
    after = (await userGit(repo, ['commit-tree', tree, '-p', before, '-p', work, '-m', message], await commitIdentity(repo))).trim();
    how = 'merge';
  }
  if (checkedOut) await userGit(checkedOut.path, ['merge', '--ff-only', '--no-edit', after]);
  else await userGit(repo, ['update-ref', '-m', `agentvisor merge ${report.runId}`, `refs/heads/${into}`, after, before]);
  return { ...result, after, how };
}

const isInside = (child: string, parent: string) => {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};
