// Live progress of a run in the terminal: a redrawn table on a TTY, plain lines otherwise (CI logs).
// What an agent could have written (errors, its last output line) is shown without escape
// sequences or control characters: an agent cannot move the cursor or rewrite the terminal.
import type { Client } from '@temporalio/client';
import Table from 'cli-table3';
import type { RunReport, TaskReport } from '../contract/run-types';
import { costOf, tokensOf, totalsText } from '../contract/usage';
import { lastActivityLines } from './activity-lines';
import { terminalText as tty } from '../contract/text-safety';
import { paintStatus, useColor } from './colors';

export { formatTokens, formatUsd } from '../contract/usage';

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
        ? // a read-only agent's findings (its last line); else what it changed
          (t.outputTail?.at(-1) ?? `${t.filesChanged} files${t.commit ? `, ${t.commit.slice(0, 10)}` : ''}`)
        : (t.error ?? t.note ?? ''),
  );
  return text;
}

/** The terminal's size, for a table that must fit it (a redrawn table taller or wider than the screen cannot be redrawn). */
export interface ScreenSize {
  columns: number;
  rows: number;
}

/** One line per task: the table's frame without the separators cli-table3 puts between rows. */
const COMPACT = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };
/** Lines the table's frame takes: the top, the head, the line under it, the bottom. */
const FRAME_LINES = 4;
/** A task id or agent name longer than this is cut in the table (the summary has it whole). */
const NAME_MAX = 24;
/** Below this, the last-activity column says too little: it is left out. */
const ACTIVITY_MIN = 12;

/** Which tasks a table too tall for the screen shows first: what is going on, then what went wrong. */
const SHOW_FIRST: Record<string, number> = {
  running: 0,
  failed: 1,
  budget_exceeded: 1,
  awaiting_approval: 2,
  cancelled: 3,
  succeeded: 4,
  skipped: 5,
  pending: 6,
};

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, Math.max(0, max - 1))}…` : text);

/**
 * The run's tasks as a table: task, agent, status, elapsed, tokens, cost, last activity; columns
 * with nothing to show are left out. With a screen size, the table fits it: the last activity is
 * cut to the width, and when there are more tasks than lines, the running and failed ones are
 * shown first and a line counts the rest.
 */
export function renderTable(
  report: RunReport,
  colour: boolean,
  now = Date.now(),
  lastLines: Map<string, string> = new Map(),
  screen?: ScreenSize,
): string {
  const footer: string[] = [];
  const totals = totalsText(report);
  if (totals) footer.push(totals);
  const merge = report.merge.status === 'pending' ? '' : `merge: ${report.merge.status}`;
  const evaluation = report.evaluation
    ? `evaluation: ${report.evaluation.passed ? 'passed' : `failed (exit ${report.evaluation.exitCode})`}`
    : '';
  if (merge || evaluation) footer.push([merge, evaluation].filter(Boolean).join('   '));

  let tasks = report.tasks;
  let more = '';
  if (screen) {
    // the cursor's line and the "more" line besides the frame and the footer
    const room = Math.max(1, screen.rows - 1 - FRAME_LINES - footer.length - 1);
    if (tasks.length > room) {
      const shown = new Set(
        [...tasks]
          .map((t, i) => ({ t, i }))
          .sort((a, b) => (SHOW_FIRST[a.t.status] ?? 9) - (SHOW_FIRST[b.t.status] ?? 9) || a.i - b.i)
          .slice(0, room)
          .map(({ t }) => t),
      );
      const hidden = tasks.filter((t) => !shown.has(t));
      tasks = tasks.filter((t) => shown.has(t));
      const counts = new Map<string, number>();
      for (const t of hidden) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
      more = `… ${hidden.length} more: ${[...counts].map(([status, n]) => `${n} ${status.replace('_', ' ')}`).join(', ')}`;
    }
  }

  const rows = tasks.map((t) => ({
    task: cut(tty(t.id), NAME_MAX),
    agent: cut(tty(t.agent), NAME_MAX),
    status: t.reusedFrom ? 'reused' : t.status,
    paintAs: t.status,
    elapsed: elapsed(t, now),
    tokens: tokensOf(t.usage),
    cost: costOf(t.usage),
    activity: activity(t, lastLines.get(t.id)),
  }));
  type Column = Exclude<keyof (typeof rows)[number], 'paintAs'>;
  const heads: Record<Column, string> = {
    task: 'task',
    agent: 'agent',
    status: 'status',
    elapsed: 'elapsed',
    tokens: 'tokens',
    cost: 'cost',
    activity: 'last activity',
  };
  // a column nobody has anything in (tokens and cost of agents that call no model) is left out
  let columns = (Object.keys(heads) as Column[]).filter((c) => c === 'task' || c === 'status' || rows.some((r) => r[c]));
  // without a screen to fit (status prints the table once), the activity keeps to a sensible width
  let activityWidth = 48;
  if (screen && columns.includes('activity')) {
    const width = (c: Column) => Math.max(heads[c].length, ...rows.map((r) => r[c].length)) + 2;
    const others = columns.filter((c) => c !== 'activity').reduce((n, c) => n + width(c), 0);
    activityWidth = screen.columns - others - (columns.length + 1) - 2;
    if (activityWidth < ACTIVITY_MIN) columns = columns.filter((c) => c !== 'activity');
  }
  const table = new Table({ head: columns.map((c) => heads[c]), style: { head: [], border: [] }, chars: COMPACT });
  for (const r of rows) {
    table.push(
      columns.map((c) =>
        c === 'status' ? paintStatus(r.paintAs, r.status, colour) : c === 'activity' ? cut(r.activity, activityWidth) : r[c],
      ),
    );
  }
  return [table.toString(), ...(more ? [more] : []), ...footer].join('\n');
}

/** The line above the live table: how long the run has been going, how far it is, what it has cost. */
export function headerLine(report: RunReport, now = Date.now()): string {
  const done = report.tasks.filter((t) => !['pending', 'running', 'awaiting_approval'].includes(t.status)).length;
  const counts = new Map<string, number>();
  for (const t of report.tasks)
    if (t.status !== 'pending' && t.status !== 'succeeded') counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const states = [...counts].map(([status, n]) => `${n} ${status.replace('_', ' ')}`).join(', ');
  const seconds = ((report.finishedAt ?? now) - report.startedAt) / 1000;
  const totals = totalsText(report).replace(/^total: /, '');
  return [
    `${tty(report.graphName)}: ${report.status.replace('_', ' ')}`,
    `${seconds < 60 ? `${seconds.toFixed(0)}s` : `${Math.floor(seconds / 60)}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`}`,
    `${done} of ${report.tasks.length} tasks done${states ? ` (${states})` : ''}`,
    ...(totals ? [totals] : []),
  ].join(' · ');
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
      const now = Date.now();
      // the header and the table fit the screen: a block taller or wider than it cannot be redrawn in place
      const screen = { columns: this.out.columns || 80, rows: Math.max(8, (this.out.rows || 24) - 1) };
      const text = [
        cut(headerLine(report, now), screen.columns),
        renderTable(report, useColor(this.out), now, this.lastLines, screen),
      ].join('\n');
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
