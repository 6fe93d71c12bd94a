// Live progress of a run in the terminal: a redrawn table on a TTY, plain lines otherwise (CI logs).
// What an agent could have written (errors, its last output line) is shown without escape
// sequences or control characters: an agent cannot move the cursor or rewrite the terminal.
import type { Client } from '@temporalio/client';
import Table from 'cli-table3';
import type { RunReport, TaskReport } from '../contract/run-types';
import { costOf, tokensOf, totalsText } from '../contract/usage';
import { lastActivityLines } from './activity-lines';
import { terminalText as tty } from '../contract/text-safety';

export { formatTokens, formatUsd } from '../contract/usage';

const COLOURS: Record<string, string> = {
  pending: '\x1b[90m',
  running: '\x1b[36m',
  succeeded: '\x1b[32m',
  completed: '\x1b[32m',
  failed: '\x1b[31m',
  cancelled: '\x1b[33m',
  skipped: '\x1b[90m',
};

function elapsed(t: TaskReport, now: number): string {
  if (!t.startedAt) return '';
  const ms = (t.finishedAt ?? now) - t.startedAt;
  return `${(ms / 1000).toFixed(1)}s`;
}

/** What a task is doing (its last heartbeat line) or, once over, what it came to; an agent's text without escape sequences. */
function activity(t: TaskReport, lastLine?: string): string {
  const text = tty(
    t.status === 'running'
      ? (lastLine ?? '')
      : t.status === 'succeeded'
        ? `${t.filesChanged} files${t.commit ? `, ${t.commit.slice(0, 10)}` : ''}`
        : (t.error ?? t.note ?? ''),
  );
  return text.length > 48 ? `${text.slice(0, 47)}…` : text;
}

export function renderTable(report: RunReport, colour: boolean, now = Date.now(), lastLines: Map<string, string> = new Map()): string {
  const table = new Table({
    head: ['task', 'agent', 'status', 'elapsed', 'tokens', 'cost', 'last activity'],
    style: { head: [], border: [] },
  });
  for (const t of report.tasks) {
    const shown = t.reusedFrom ? 'reused' : t.status;
    const status = colour ? `${COLOURS[t.status] ?? ''}${shown}\x1b[0m` : shown;
    table.push([tty(t.id), tty(t.agent), status, elapsed(t, now), tokensOf(t.usage), costOf(t.usage), activity(t, lastLines.get(t.id))]);
  }
  const lines = [table.toString()];
  const totals = totalsText(report);
  if (totals) lines.push(totals);
  const merge = report.merge.status === 'pending' ? '' : `merge: ${report.merge.status}`;
  const evaluation = report.evaluation
    ? `evaluation: ${report.evaluation.passed ? 'passed' : `failed (exit ${report.evaluation.exitCode})`}`
    : '';
  if (merge || evaluation) lines.push([merge, evaluation].filter(Boolean).join('   '));
  return lines.join('\n');
}

/** Redraws the table in place on a terminal; prints a line per change elsewhere. */
export class ProgressView {
  private drawnLines = 0;
  private lastStates = new Map<string, string>();
  private lastLines = new Map<string, string>();
  private fetching = false;
  /** with a client, the table's last-activity column follows the running tasks' heartbeats */
  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly client?: Client,
  ) {}

  update(report: RunReport): void {
    if (this.out.isTTY) {
      this.refreshLines(report);
      const text = renderTable(report, true, Date.now(), this.lastLines);
      if (this.drawnLines) this.out.write(`\x1b[${this.drawnLines}A\x1b[J`);
      this.out.write(text + '\n');
      this.drawnLines = text.split('\n').length;
      return;
    }
    for (const t of report.tasks) {
      if (t.note && !this.lastStates.has(`${t.id}:note`)) {
        this.lastStates.set(`${t.id}:note`, t.note);
        this.out.write(`task ${tty(t.id)} [${tty(t.agent)}] ${tty(t.note)}\n`);
      }
      if (this.lastStates.get(t.id) !== t.status) {
        this.lastStates.set(t.id, t.status);
        const commit = t.commit?.slice(0, 10);
        const usage = [t.usage && `${tokensOf(t.usage)} tokens`, costOf(t.usage)].filter(Boolean).join(', ');
        const detail =
          t.status === 'failed' && t.error
            ? `: ${tty(t.error)}${usage ? ` (${usage})` : ''}`
            : t.reusedFrom
              ? ` (reused from run ${t.reusedFrom}, ${commit})`
              : t.status === 'succeeded'
                ? ` (${[`${t.filesChanged} files`, commit, usage].filter(Boolean).join(', ')})`
                : usage
                  ? ` (${usage})`
                  : '';
        this.out.write(`task ${tty(t.id)} [${tty(t.agent)}] ${t.status}${detail}\n`);
      }
    }
    for (const [key, value] of [
      ['merge', report.merge.status === 'pending' ? '' : report.merge.status],
      ['evaluation', report.evaluation ? (report.evaluation.passed ? 'passed' : `failed (exit ${report.evaluation.exitCode})`) : ''],
    ]) {
      if (value && this.lastStates.get(`:${key}`) !== value) {
        this.lastStates.set(`:${key}`, value);
        this.out.write(`${key} ${value}\n`);
      }
    }
    // the totals once the run is over (CI logs: one line, not one per poll)
    const totals = report.status === 'running' ? '' : totalsText(report);
    if (totals && !this.lastStates.has(':totals')) {
      this.lastStates.set(':totals', totals);
      this.out.write(`${totals}\n`);
    }
  }

  /** Forgets the table drawn last: something was printed under it, so the next one is drawn below. */
  release(): void {
    this.drawnLines = 0;
  }

  /** Fetches the running tasks' last lines in the background; the next redraw shows them. */
  private refreshLines(report: RunReport): void {
    if (!this.client || this.fetching || report.status !== 'running') return;
    this.fetching = true;
    lastActivityLines(this.client, report)
      .then((lines) => (this.lastLines = lines))
      .catch(() => undefined)
      .finally(() => (this.fetching = false));
  }
}
