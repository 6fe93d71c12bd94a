// The ledger of finished work: one JSON line per succeeded task in the run's artifact folder. With
// the commits it names (kept in git's object store even after a rollback deletes the branches), it
// lets `resume` reuse work without the old run's Temporal history.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, readFile } from 'node:fs/promises';
import type { AgentSpec, TaskSpec } from '../graph/types';
import { git } from './git';

export interface LedgerEntry {
  runId: string;
  taskId: string;
  /** what the task asks of which agent: a change here means the work must be redone */
  specHash: string;
  baseCommit: string;
  dependencyCommits: string[];
  commit: string;
  filesChanged: number;
  insertions: number;
  deletions: number;
  files: string[];
}

export function taskSpecHash(agent: AgentSpec, task: TaskSpec): string {
  const relevant = {
    task: { id: task.id, prompt: task.prompt, agent: task.agent, after: task.after },
    agent: {
      harness: agent.harness,
      image: agent.image ?? null,
      command: agent.command ?? null,
      model: agent.model ?? null,
      promptTemplate: agent.promptTemplate ?? null,
      env: agent.env,
      readOnly: agent.readOnly,
    },
  };
  return createHash('sha256').update(JSON.stringify(relevant)).digest('hex').slice(0, 16);
}

export async function appendLedger(file: string, entry: LedgerEntry): Promise<void> {
  await appendFile(file, JSON.stringify(entry) + '\n');
}

export async function readLedger(file: string): Promise<LedgerEntry[]> {
  if (!existsSync(file)) return [];
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as LedgerEntry];
      } catch {
        return []; // a line cut short by a crash
      }
    });
}

/** The ledger line of a task whose work was just collected. */
export function ledgerEntry(
  input: { runId: string; taskId: string; agent: AgentSpec; task: TaskSpec; baseCommit: string; dependencyCommits: string[] },
  stats: Pick<LedgerEntry, 'commit' | 'filesChanged' | 'insertions' | 'deletions' | 'files'>,
): LedgerEntry {
  return {
    runId: input.runId,
    taskId: input.taskId,
    specHash: taskSpecHash(input.agent, input.task),
    baseCommit: input.baseCommit,
    dependencyCommits: input.dependencyCommits,
    ...stats,
  };
}

export type ReuseDecision = { reuse: LedgerEntry } | { redo: string };

export interface ReuseQuestion {
  /** where the recorded commit must still be */
  repo: string;
  fromRunId: string;
  agent: AgentSpec;
  task: TaskSpec;
  baseCommit: string;
  dependencyCommits: string[];
}

/** Whether a task's recorded work (in the earlier run's ledger file) still fits. */
export async function decideReuse(opts: ReuseQuestion & { ledgerFile: string }): Promise<ReuseDecision> {
  return decideReuseOf((await readLedger(opts.ledgerFile)).filter((e) => e.taskId === opts.task.id).pop(), opts);
}

/** Whether a task's recorded work still fits: same ask, same starting point, commit still there. */
export async function decideReuseOf(entry: LedgerEntry | undefined, opts: ReuseQuestion): Promise<ReuseDecision> {
  if (!entry) return { redo: `no finished work recorded in run ${opts.fromRunId}` };
  if (entry.specHash !== taskSpecHash(opts.agent, opts.task)) return { redo: `the task or its agent changed since run ${opts.fromRunId}` };
  if (entry.baseCommit !== opts.baseCommit || entry.dependencyCommits.join() !== opts.dependencyCommits.join()) {
    return { redo: `the work it starts from changed since run ${opts.fromRunId}` };
  }
  const present = await git(opts.repo)
    .raw(['cat-file', '-t', entry.commit])
    .then(
      (t) => t.trim() === 'commit',
      () => false,
    );
  if (!present) return { redo: `its commit ${entry.commit.slice(0, 10)} is no longer in the repository` };
  return { reuse: entry };
}
