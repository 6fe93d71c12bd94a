// Live progress of a run in the terminal: a redrawn table on a TTY, plain lines otherwise (CI logs).
import Table from 'cli-table3';
import type { RunReport, TaskReport } from '../workflows/run-types';

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

export function renderTable(report: RunReport, colour: boolean, now = Date.now()): string {
  const table = new Table({ head: ['task', 'agent', 'status', 'elapsed', 'files', 'commit'], style: { head: [], border: [] } });
  for (const t of report.tasks) {
    const shown = t.reusedFrom ? 'reused' : t.status;
    const status = colour ? `${COLOURS[t.status] ?? ''}${shown}\x1b[0m` : shown;
    table.push([t.id, t.agent, status, elapsed(t, now), t.status === 'succeeded' ? String(t.filesChanged) : '', t.commit?.slice(0, 10) ?? '']);
  }
  const lines = [table.toString()];
  const merge = report.merge.status === 'pending' ? '' : `merge: ${report.merge.status}`;
  const evaluation = report.evaluation ? `evaluation: ${report.evaluation.passed ? 'passed' : `failed (exit ${report.evaluation.exitCode})`}` : '';
  if (merge || evaluation) lines.push([merge, evaluation].filter(Boolean).join('   '));
  return lines.join('\n');
}

/** Redraws the table in place on a terminal; prints a line per change elsewhere. */
export class ProgressView {
  private drawnLines = 0;
  private lastStates = new Map<string, string>();
  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  update(report: RunReport): void {
    if (this.out.isTTY) {
      const text = renderTable(report, true);
      if (this.drawnLines) this.out.write(`\x1b[${this.drawnLines}A\x1b[J`);
      this.out.write(text + '\n');
      this.drawnLines = text.split('\n').length;
      return;
    }
    for (const t of report.tasks) {
      if (t.note && !this.lastStates.has(`${t.id}:note`)) {
        this.lastStates.set(`${t.id}:note`, t.note);
        this.out.write(`task ${t.id} [${t.agent}] ${t.note}\n`);
      }
      if (this.lastStates.get(t.id) !== t.status) {
        this.lastStates.set(t.id, t.status);
        const commit = t.commit?.slice(0, 10);
        const detail =
          t.status === 'failed' && t.error
            ? `: ${t.error}`
            : t.reusedFrom
              ? ` (reused from run ${t.reusedFrom}, ${commit})`
              : t.status === 'succeeded'
                ? ` (${t.filesChanged} files, ${commit})`
                : '';
        this.out.write(`task ${t.id} [${t.agent}] ${t.status}${detail}\n`);
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
  }
}
