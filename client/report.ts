// `agentvisor report RUN`: a self-contained HTML page (and a markdown summary) of a run: the graph
// coloured by outcome, a timeline of the tasks showing the parallelism, diff stats, each task's diff
// and the end of its log (embedded: the page can be sent to someone else), merge and evaluation results.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describeResolution, type RunReport, type TaskReport } from '../contract/run-types';
import { detailsMarkdown } from '../workflows/details';
import { htmlText, terminalText } from '../contract/text-safety';
import { costOf, formatTokens, formatUsd, runTotals, tokensOf } from '../contract/usage';
import { logsCommand, tailHeading, tasksWithTail } from '../contract/task-output';
import { reportExtras, type ReportExtras } from './report-extras';

const COLOUR: Record<string, string> = {
  succeeded: '#2e9e5b',
  completed: '#2e9e5b',
  running: '#2f80ed',
  pending: '#9aa5b1',
  failed: '#d64545',
  cancelled: '#e0a000',
  skipped: '#c3c9d0',
};

/** Every value is escaped (task errors, file names and proposals may be an agent's text), without terminal sequences. */
const esc = (s: unknown) => htmlText(terminalText(s, { multiline: true }));
const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

const afterOf = (r: RunReport) => Object.fromEntries(r.tasks.map((t) => [t.id, t.after ?? []]));

/** Depth of each task: 0 for roots, else 1 + the deepest dependency. */
function depths(tasks: TaskReport[], after: Record<string, string[]>): Map<string, number> {
  const depth = new Map<string, number>();
  const of = (id: string): number => {
    if (!depth.has(id)) depth.set(id, Math.max(-1, ...(after[id] ?? []).map(of)) + 1);
    return depth.get(id)!;
  };
  tasks.forEach((t) => of(t.id));
  return depth;
}

export function graphSvg(report: RunReport, after: Record<string, string[]> = afterOf(report)): string {
  const depth = depths(report.tasks, after);
  const columns = new Map<number, TaskReport[]>();
  for (const t of report.tasks) columns.set(depth.get(t.id)!, [...(columns.get(depth.get(t.id)!) ?? []), t]);
  const W = 170,
    H = 54,
    GX = 60,
    GY = 18;
  const pos = new Map<string, { x: number; y: number }>();
  for (const [d, list] of columns) list.forEach((t, i) => pos.set(t.id, { x: 10 + d * (W + GX), y: 10 + i * (H + GY) }));
  const width = 20 + columns.size * (W + GX) - GX;
  const height = 20 + Math.max(...[...columns.values()].map((l) => l.length)) * (H + GY) - GY;
  const edges = report.tasks.flatMap((t) =>
    (after[t.id] ?? []).map((dep) => {
      const a = pos.get(dep)!,
        b = pos.get(t.id)!;
      return `<path class="edge" d="M${a.x + W},${a.y + H / 2} C${a.x + W + GX / 2},${a.y + H / 2} ${b.x - GX / 2},${b.y + H / 2} ${b.x},${b.y + H / 2}" />`;
    }),
  );
  const nodes = report.tasks.map((t) => {
    const p = pos.get(t.id)!;
    return (
      `<g class="node" data-task="${esc(t.id)}" data-status="${esc(t.status)}"><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="8" fill="${COLOUR[t.status] ?? '#999'}" />` +
      `<text x="${p.x + 10}" y="${p.y + 22}" class="id">${esc(t.id)}</text><text x="${p.x + 10}" y="${p.y + 40}" class="sub">${esc(t.agent)} · ${esc(t.reusedFrom ? 'reused' : t.status)}</text></g>`
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${edges.join('')}${nodes.join('')}</svg>`;
}

export function timelineHtml(report: RunReport): string {
  const start = report.startedAt;
  const end = Math.max(report.finishedAt ?? 0, ...report.tasks.map((t) => t.finishedAt ?? t.startedAt ?? start), start + 1);
  const span = end - start;
  const rows = report.tasks.map((t) => {
    if (!t.startedAt) return `<div class="row"><span class="label">${esc(t.id)}</span><span class="track"></span></div>`;
    const left = ((t.startedAt - start) / span) * 100;
    const width = Math.max(0.5, (((t.finishedAt ?? end) - t.startedAt) / span) * 100);
    return `<div class="row"><span class="label">${esc(t.id)}</span><span class="track"><span class="bar" data-task="${esc(t.id)}" style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%;background:${COLOUR[t.status]}" title="${esc(t.id)}: ${secs((t.finishedAt ?? end) - t.startedAt)}"></span></span></div>`;
  });
  return `<div class="timeline">${rows.join('')}<div class="axis"><span>0s</span><span>${secs(span)}</span></div></div>`;
}

/** The run in figures: tasks by outcome, wall time, lines changed, tokens and cost. */
export function totalsHtml(report: RunReport): string {
  const succeeded = report.tasks.filter((t) => t.status === 'succeeded').length;
  const totals = runTotals(report);
  const cells: [string, string][] = [
    ['tasks', `${succeeded} of ${report.tasks.length} succeeded`],
    ['wall time', report.finishedAt ? secs(report.finishedAt - report.startedAt) : 'running'],
    ['agent time', secs(report.tasks.reduce((n, t) => n + (t.startedAt && t.finishedAt ? t.finishedAt - t.startedAt : 0), 0))],
    ['files changed', String(report.tasks.reduce((n, t) => n + t.filesChanged, 0))],
    ['lines', `+${report.tasks.reduce((n, t) => n + t.insertions, 0)} −${report.tasks.reduce((n, t) => n + t.deletions, 0)}`],
    [
      'tokens',
      totals ? `${formatTokens(totals.tokens)} (in ${formatTokens(totals.inputTokens)}, out ${formatTokens(totals.outputTokens)})` : '—',
    ],
    ['cost', totals?.priced ? formatUsd(totals.costUsd) : '—'],
  ];
  return `<table class="totals" id="totals">${cells.map(([k, v]) => `<tr><th>${k}</th><td data-total="${k.replace(/ /g, '-')}">${esc(v)}</td></tr>`).join('')}</table>`;
}

/** The id of a task's section in the page (task ids are safe names: letters, digits, - and _). */
const anchor = (taskId: string) => `task-${esc(taskId)}`;

/** Each task's diff and the end of its log, embedded (the page is sent as it is: no links to this machine's files). */
export function changesHtml(report: RunReport, extras?: ReportExtras): string {
  if (!extras) return '';
  const sections = report.tasks.map((t) => {
    const x = extras.tasks.get(t.id);
    if (!x?.diff && !x?.noDiff && !x?.logEnd?.length) return '';
    const diff = x.diff
      ? `<div class="meta">its changes${x.diffCut ? ' (cut: the whole diff is on its branch)' : ''}:</div><pre class="diff">${esc(x.diff)}</pre>`
      : x.noDiff
        ? `<p class="meta">no diff: ${esc(x.noDiff)}</p>`
        : '';
    const log = x.logEnd?.length ? `<div class="meta">the end of its log:</div><pre class="log">${x.logEnd.map(esc).join('\n')}</pre>` : '';
    return `<details id="${anchor(t.id)}" data-task="${esc(t.id)}"><summary><b>${esc(t.id)}</b> · ${esc(t.status)} · ${t.filesChanged} files, +${t.insertions} −${t.deletions}</summary>${diff}${log}<p class="meta">whole log: <code>${esc(logsCommand(report.runId, t.id))}</code></p></details>`;
  });
  return sections.some(Boolean) ? `<h2>Changes and logs</h2>${sections.join('')}` : '';
}

export function reportHtml(report: RunReport, after: Record<string, string[]> = afterOf(report), extras?: ReportExtras): string {
  const rows = report.tasks.map(
    (t) =>
      `<tr><td>${esc(t.id)}</td><td>${esc(t.agent)}</td><td><span class="pill" style="background:${COLOUR[t.status]}">${esc(t.reusedFrom ? `reused (${t.reusedFrom})` : t.status)}</span></td>` +
      `<td>${t.startedAt && t.finishedAt ? secs(t.finishedAt - t.startedAt) : ''}</td><td>${t.filesChanged}</td><td>+${t.insertions} −${t.deletions}</td>` +
      `<td><code>${esc(t.commit?.slice(0, 10))}</code></td><td>${extras?.tasks.get(t.id)?.diff || extras?.tasks.get(t.id)?.logEnd?.length ? `<a href="#${anchor(t.id)}">diff, log</a>` : ''}</td><td>${esc(t.error ?? t.note ?? (t.addedBy ? `added by ${t.addedBy}` : ''))}</td><td class="num">${tokensOf(t.usage)}</td><td class="num">${costOf(t.usage)}</td></tr>`,
  );
  const merge = report.merge.conflicts.length
    ? report.merge.conflicts
        .map(
          (c) =>
            `conflict: <b>${esc(c.taskId)}</b> with ${esc(c.conflictsWith.join(', '))} in ${esc(c.files.join(', '))}${esc(describeResolution(c.resolution))}`,
        )
        .join('<br>')
    : esc(report.merge.status);
  const evaluation = report.evaluation
    ? `${report.evaluation.passed ? 'passed' : `failed (exit ${report.evaluation.exitCode})`}` +
      (extras?.evaluationLogEnd?.length
        ? `<div class="meta">the end of its log:</div><pre id="evaluation-log">${extras.evaluationLogEnd.map(esc).join('\n')}</pre>`
        : '')
    : 'not run';
  return `<!doctype html><html><head><meta charset="utf-8"><title>agentvisor · ${esc(report.graphName)} · ${esc(report.runId)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2933}h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#52606d}.status{font-weight:600;color:${COLOUR[report.status] ?? '#333'}}
svg .edge{fill:none;stroke:#9aa5b1;stroke-width:2}svg text{fill:#fff}svg .id{font-weight:600;font-size:13px}svg .sub{font-size:11px}
.timeline .row{display:flex;align-items:center;margin:3px 0}.timeline .label{width:160px;overflow:hidden;text-overflow:ellipsis}
.timeline .track{position:relative;flex:1;height:16px;background:#f0f2f5;border-radius:4px}.timeline .bar{position:absolute;top:0;bottom:0;border-radius:4px}
.timeline .axis{display:flex;justify-content:space-between;margin-left:160px;color:#7b8794;font-size:12px}
details{margin:6px 0}summary{cursor:pointer}pre{background:#f5f7fa;border:1px solid #e4e7eb;border-radius:4px;padding:8px;overflow-x:auto;font-size:12px}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #e4e7eb;text-align:left}.pill{color:#fff;border-radius:10px;padding:1px 8px}
</style></head><body>
<h1>${esc(report.graphName)} <span class="status">${esc(report.status)}</span></h1>
<div class="meta">run <code>${esc(report.runId)}</code> · repo <code>${esc(report.repo)}</code> · base <code>${esc(report.baseCommit?.slice(0, 10))}</code> · integration branch <code>${esc(report.integrationBranch)}</code> · ${report.finishedAt ? secs(report.finishedAt - report.startedAt) : 'running'}</div>
${report.error ? `<p class="status">${esc(report.error)}</p>` : ''}
${
  report.shared
    ? `<p class="meta" id="shared">shared workspace <code>${esc(report.shared.path)}</code> at <code>${esc(report.shared.mount)}</code> (${esc(
        Object.entries(report.shared.access)
          .map(([a, m]) => `${a} ${m}`)
          .join(', '),
      )})${report.shared.removed ? ' · removed by the rollback' : ''}</p>`
    : ''
}
<h2>Graph</h2>${graphSvg(report, after)}
<h2>Timeline</h2>${timelineHtml(report)}
<h2>Tasks</h2><table><tr><th>task</th><th>agent</th><th>status</th><th>duration</th><th>files</th><th>lines</th><th>commit</th><th>log</th><th>note</th><th>tokens</th><th>cost</th></tr>${rows.join('')}</table>
${tailsHtml(report)}${changesHtml(report, extras)}<h2>Totals</h2>${totalsHtml(report)}
${approvalsHtml(report)}${proposalsHtml(report)}<h2>Merge</h2><p>${merge}</p><h2>Evaluation</h2><p>${evaluation}</p>
<p class="meta">Usage is the gateway's meter when the run has one, else what the agent's CLI reported; agents that call no model have none.</p>
</body></html>`;
}

/** Why tasks failed (the reason, the end of the agent's output) and read-only agents' findings. */
export function tailsHtml(report: RunReport): string {
  const tasks = tasksWithTail(report.tasks);
  if (!tasks.length) return '';
  const blocks = tasks.map(
    (t) =>
      `<div class="tail" data-task="${esc(t.id)}"><p><b>${esc(tailHeading(t))}</b></p>` +
      (t.outputTail?.length ? `<pre>${t.outputTail.map(esc).join('\n')}</pre>` : '') +
      `<p class="meta">whole log: <code>${esc(logsCommand(report.runId, t.id))}</code></p></div>`,
  );
  return `<h2>Why tasks failed, and findings</h2>${blocks.join('')}`;
}

/** The run's approval gates: who waited, what was answered (or what the timeout decided). */
export function approvalsHtml(report: RunReport): string {
  if (!report.approvals?.length) return '';
  const rows = report.approvals.map(
    (a) =>
      `<tr data-gate="${esc(a.gate)}"><td>${esc(a.gate)}</td><td>${esc(a.status)}${a.timedOut ? ' (timed out)' : ''}</td><td>${esc(a.reason ?? '')}</td>` +
      `<td>${a.decidedAt ? secs(a.decidedAt - a.requestedAt) : 'waiting'}</td></tr>`,
  );
  return `<h2>Approvals</h2><table><tr><th>gate</th><th>answer</th><th>reason</th><th>waited</th></tr>${rows.join('')}</table>`;
}

/** What agents proposed, and what became of it (the limits refuse some). */
export function proposalsHtml(report: RunReport): string {
  if (!report.proposals?.length) return '';
  const rows = report.proposals.map(
    (p) =>
      `<tr data-proposal="${esc(p.file)}"><td>${esc(p.by)}</td><td>${esc(p.file)}</td><td>${esc(p.tasks.join(', '))}</td><td>${esc(p.status)}</td><td>${esc(p.reason ?? '')}</td></tr>`,
  );
  return `<h2>Proposals</h2><table><tr><th>by</th><th>file</th><th>tasks</th><th>status</th><th>reason</th></tr>${rows.join('')}</table>`;
}

/**
 * The report as `--json` prints it: all of it but what only the worker's side needs (the run's
 * repository and remote, each task's dependencies and changed files).
 */
export type PublicReport = Omit<RunReport, 'repo' | 'remote' | 'tasks'> & { tasks: Omit<TaskReport, 'after' | 'files'>[] };

export function publicReport(report: RunReport): PublicReport {
  const { repo: _repo, remote: _remote, tasks, ...run } = report;
  return { ...run, tasks: tasks.map(({ after: _after, files: _files, ...task }) => task) };
}

/** Writes report.html and report.md next to the run's artifacts (or into `outDir`). */
export function writeRunReport(
  report: RunReport,
  after: Record<string, string[]> = afterOf(report),
  outDir = report.artifactsDir,
  extras: ReportExtras | undefined = reportExtras(report),
): { html: string; markdown: string } {
  mkdirSync(outDir, { recursive: true });
  const html = path.join(outDir, 'report.html');
  const markdown = path.join(outDir, 'report.md');
  writeFileSync(html, reportHtml(report, after, extras));
  writeFileSync(markdown, detailsMarkdown(report) + '\n');
  return { html, markdown };
}
