// What makes the HTML report whole when it is sent to someone else: each task's diff (from the
// repository, on this machine) and the end of each log (from the run's folder), read here and
// embedded, instead of links to files only this machine has. git runs on objects only (no checkout),
// with no external diff or textconv driver: the agents' commits are data.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { RunReport, TaskReport } from '../contract/run-types';

/** A diff larger than this is cut (the report stays a page, not a repository). */
const DIFF_MAX_BYTES = 200 * 1024;
/** How many of a log's last lines the report embeds. */
export const LOG_END_LINES = 40;
const LOG_READ_BYTES = 64 * 1024;

export interface TaskExtras {
  /** the task's own changes: from its start commit to its commit */
  diff?: string;
  diffCut?: boolean;
  /** why there is no diff */
  noDiff?: string;
  logEnd?: string[];
}

export interface ReportExtras {
  tasks: Map<string, TaskExtras>;
  evaluationLogEnd?: string[];
}

function git(repo: string, args: string[]): string {
  return execFileSync('git', ['-c', `safe.directory=${repo}`, '-C', repo, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 ** 2,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/**
 * The commit a task started from: the run's base commit, or the last commit of the start the run
 * made from its dependencies (their commits merged in, one after another, on the first-parent line):
 * the oldest commit of the task's first-parent line that has every dependency's commit in it.
 */
function startCommit(report: RunReport, task: TaskReport): string | undefined {
  const deps = (task.after ?? []).map((id) => report.tasks.find((t) => t.id === id)?.commit);
  if (deps.some((c) => !c)) return undefined;
  if (deps.length === 0) return report.baseCommit;
  const contains = (commit: string, dep: string) => {
    try {
      git(report.repo, ['merge-base', '--is-ancestor', dep, commit]);
      return true;
    } catch {
      return false;
    }
  };
  let start: string | undefined;
  for (const commit of git(report.repo, ['rev-list', '--first-parent', '--max-count=200', task.commit!]).split('\n').filter(Boolean)) {
    if (!deps.every((dep) => contains(commit, dep!))) break;
    start = commit;
  }
  return start;
}

function taskDiff(report: RunReport, task: TaskReport): Pick<TaskExtras, 'diff' | 'diffCut' | 'noDiff'> {
  if (task.status !== 'succeeded' || !task.commit) return {};
  if (report.remote) return { noDiff: `the run's work is on its remote: git diff on the task's branch there` };
  try {
    const start = startCommit(report, task);
    if (!start) return { noDiff: 'the commit the task started from is not known' };
    const diff = git(report.repo, ['diff', '--no-ext-diff', '--no-textconv', '--no-color', '--stat', '--patch', start, task.commit]);
    const cut = Buffer.byteLength(diff) > DIFF_MAX_BYTES;
    return { diff: cut ? diff.slice(0, DIFF_MAX_BYTES) : diff, diffCut: cut };
  } catch {
    return { noDiff: `the task's commit is no longer in ${report.repo}` };
  }
}

/** The last lines of a log on this machine; undefined when it is not here. */
export function logEnd(file: string | undefined, lines = LOG_END_LINES): string[] | undefined {
  if (!file || !existsSync(file)) return undefined;
  const text = readFileSync(file).subarray(-LOG_READ_BYTES).toString('utf8');
  return text
    .split(/\r?\n/)
    .filter((l, i, all) => l.trim() || i < all.length - 1)
    .slice(-lines);
}

export function reportExtras(report: RunReport): ReportExtras {
  const tasks = new Map<string, TaskExtras>();
  for (const t of report.tasks) tasks.set(t.id, { ...taskDiff(report, t), logEnd: logEnd(t.logPath) ?? t.outputTail });
  return { tasks, evaluationLogEnd: logEnd(report.evaluation?.logPath) };
}
