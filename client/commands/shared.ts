// What every command of the CLI shares: its exit codes, its action wrapper, its connection to
// Temporal, and how it prints a run.
import type { Client } from '@temporalio/client';
import { InvalidArgumentError } from 'commander';
import { connect, loadConfig, runUiLink } from '../api';
import type { ClientConfig } from '../config';
import { resolveRunId } from '../run-ids';
import { describeResolution, type RunReport } from '../../contract/run-types';
import { terminalText as tty } from '../../contract/text-safety';
import { logsCommand, tailHeading, tasksWithTail } from '../../contract/task-output';

export const ExitCode = {
  success: 0,
  /** the run failed (or the command could not do its work) */
  failed: 1,
  badInput: 2,
  /** status --exit-status: the run (or task) is not over yet */
  notOver: 3,
} as const;

/** Thrown by `action` when a command ends with a non-zero code; `main` exits with it and prints nothing more. */
export class CommandExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit code ${exitCode}`);
  }
}

/** A command's commander action: the command returns its exit code instead of exiting itself. */
export const action =
  <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
  async (...args: A): Promise<void> => {
    const code = await fn(...args);
    if (code !== ExitCode.success) throw new CommandExit(code);
  };

/** A command's `--json` option: every command that prints a result takes it, with this wording. */
export const JSON_FLAG = ['--json', 'print the result as JSON'] as const;

/** A positive whole number for an option (commander refuses the rest: exit 2, naming the option). */
export function positiveInteger(value: string): number {
  if (!/^[1-9][0-9]*$/.test(value.trim())) throw new InvalidArgumentError('Expected a positive whole number.');
  return Number(value);
}

/** A TCP port for an option (1 to 65535). */
export function tcpPort(value: string): number {
  const n = /^[0-9]+$/.test(value.trim()) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new InvalidArgumentError('Expected a port number from 1 to 65535.');
  return n;
}

/**
 * The run a command names (an id, a unique prefix of one), with a connection to Temporal: not
 * found and ambiguous are bad input (exit 2) for every command alike.
 */
export async function withRun<T>(ref: string, fn: (client: Client, cfg: ClientConfig, runId: string) => Promise<T>): Promise<T> {
  return withClient(async (client, cfg) => fn(client, cfg, await resolveRunId(ref, { dataDir: cfg.dataDir, client })));
}

/** A command's connection to Temporal (never starting a server), closed when it is done. */
export async function withClient<T>(fn: (client: Client, cfg: ClientConfig) => Promise<T>): Promise<T> {
  const cfg = loadConfig();
  const client = await connect(cfg, { startServer: false });
  try {
    return await fn(client, cfg);
  } finally {
    await client.connection.close();
  }
}

/** A line on stderr: errors and what is said while a command works, keeping stdout for its result. */
export const printStderr = (line: string) => process.stderr.write(line + '\n');

/**
 * Why each failed task failed (its reason or exit code, then the last lines of its output) and what
 * each read-only agent found, with the command that prints the whole log; the agent's lines
 * without escape sequences, each on its own line.
 */
export function taskTailLines(report: RunReport): string[] {
  const lines: string[] = [];
  for (const t of tasksWithTail(report.tasks)) {
    lines.push(tty(tailHeading(t)));
    const tail = t.outputTail ?? [];
    if (tail.length) lines.push(`  last ${tail.length === 1 ? 'line' : `${tail.length} lines`} of its output:`);
    for (const l of tail) lines.push(`  │ ${tty(l)}`);
    if (t.logPath || tail.length) lines.push(`  whole log: ${logsCommand(report.runId, t.id)}`);
  }
  return lines;
}

/** The run's state in lines; what agents could have written (errors, file names, proposals) without escape sequences. */
export function printSummary(report: RunReport, cfg: ClientConfig) {
  const link = runUiLink(cfg, report.runId);
  for (const line of taskTailLines(report)) console.log(line);
  console.log(`run ${report.runId}: ${report.status}${report.error ? ` (${tty(report.error)})` : ''}`);
  if (report.status === 'completed') console.log(`integration branch: ${report.integrationBranch}`);
  if (report.shared) {
    const access = Object.entries(report.shared.access)
      .map(([agent, mode]) => `${agent} ${mode}`)
      .join(', ');
    console.log(
      `shared workspace: ${report.shared.removed ? '(removed by the rollback) ' : ''}${report.shared.path} (at ${report.shared.mount}: ${access})`,
    );
  }
  for (const a of report.approvals ?? []) {
    if (a.status === 'waiting')
      console.log(
        `awaiting approval: ${a.gate} (agentvisor approve ${report.runId} ${a.gate}, or reject ${report.runId} ${a.gate} --reason …)`,
      );
    else console.log(`approval of ${a.gate}: ${a.status}${a.timedOut ? ' (timed out)' : ''}${a.reason ? `: ${tty(a.reason)}` : ''}`);
  }
  for (const p of report.proposals ?? []) {
    const tasks = p.tasks.length ? ` (${tty(p.tasks.join(', '))})` : '';
    console.log(`proposal ${tty(p.file) || '(drop folder)'} of ${p.by}${tasks}: ${p.status}${p.reason ? `: ${tty(p.reason)}` : ''}`);
  }
  for (const c of report.merge.conflicts) {
    console.log(
      `conflict: task ${c.taskId}${c.conflictsWith.length ? ` with ${c.conflictsWith.join(', ')}` : ''} in ${tty(c.files.join(', '))}${tty(describeResolution(c.resolution))}`,
    );
  }
  if (link) console.log(`Temporal UI: ${link}`);
}
