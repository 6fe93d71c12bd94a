// The experiment's report: one self-contained HTML page. Its charts are drawn by Chart.js, whose UMD
// build is inlined (no network); the figures are computed here and each says how many cells it rests on.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { CellResult, ExperimentReport } from '../contract/experiment-types';
import { fiveNumbers, wilson } from './stats';

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const usd = (x: number) => `$${x.toFixed(4)}`;

export const TRAFFIC_NOTE: Record<ExperimentReport['traffic'], string> = {
  none: 'No model was called: every agent is a scripted `command` agent. The figures measure the arms’ mechanics on these subjects, not any model.',
  live: 'Live model traffic.',
  record: 'Live model traffic, recorded to cassettes.',
  replay: 'Model traffic replayed from cassettes (no model was called now); times are this run’s, tokens and cost the cassettes’.',
};

export interface ArmFigures {
  arm: string;
  cells: number;
  passed: number;
  rate: number;
  low: number;
  high: number;
  cost: ReturnType<typeof fiveNumbers>;
  wall: ReturnType<typeof fiveNumbers>;
  testsPassedMean: number;
  testsFailedMean: number;
}

export function armFigures(cells: CellResult[]): ArmFigures[] {
  const arms = [...new Set(cells.map((c) => c.arm))];
  return arms.map((arm) => {
    const of = cells.filter((c) => c.arm === arm);
    const passed = of.filter((c) => c.evaluationPassed).length;
    const { low, high } = wilson(passed, of.length);
    return {
      arm,
      cells: of.length,
      passed,
      rate: of.length ? passed / of.length : 0,
      low,
      high,
      cost: fiveNumbers(of.map((c) => c.costUsd)),
      wall: fiveNumbers(of.map((c) => c.wallMs / 1000)),
      testsPassedMean: of.reduce((a, c) => a + c.testsPassed, 0) / (of.length || 1),
      testsFailedMean: of.reduce((a, c) => a + c.testsFailed, 0) / (of.length || 1),
    };
  });
}

/** Arm against arm on the same subject and repetition: who passed where the other did not. */
export function pairedComparisons(cells: CellResult[]) {
  const arms = [...new Set(cells.map((c) => c.arm))];
  const key = (c: CellResult) => `${c.subject}\u0000${c.repetition}`;
  const out = [];
  for (let i = 0; i < arms.length; i++) {
    for (let j = i + 1; j < arms.length; j++) {
      const a = new Map(cells.filter((c) => c.arm === arms[i]).map((c) => [key(c), c]));
      const pairs = cells.filter((c) => c.arm === arms[j] && a.has(key(c))).map((b) => [a.get(key(b))!, b] as const);
      const median = (xs: number[]) => fiveNumbers(xs).median;
      out.push({
        a: arms[i],
        b: arms[j],
        pairs: pairs.length,
        onlyA: pairs.filter(([x, y]) => x.evaluationPassed && !y.evaluationPassed).length,
        onlyB: pairs.filter(([x, y]) => !x.evaluationPassed && y.evaluationPassed).length,
        both: pairs.filter(([x, y]) => x.evaluationPassed && y.evaluationPassed).length,
        neither: pairs.filter(([x, y]) => !x.evaluationPassed && !y.evaluationPassed).length,
        wallDiffMedianS: median(pairs.map(([x, y]) => (x.wallMs - y.wallMs) / 1000)),
        costDiffMedian: median(pairs.map(([x, y]) => x.costUsd - y.costUsd)),
      });
    }
  }
  return out;
}

function chartJs(): string {
  // the package exports no path to its UMD build; it sits beside the CommonJS entry, in dist/
  const file = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  // inlined into a <script>: a closing tag in its text would end it early
  return readFileSync(file, 'utf8').replace(/<\/script/gi, '<\\/script');
}

function subjectTables(cells: CellResult[]): string {
  const subjects = [...new Set(cells.map((c) => c.subject))];
  return subjects
    .map((s) => {
      const rows = armFigures(cells.filter((c) => c.subject === s))
        .map(
          (f) =>
            `<tr><td>${esc(f.arm)}</td><td>${f.passed}/${f.cells}</td><td>${f.testsPassedMean.toFixed(1)}</td><td>${f.testsFailedMean.toFixed(1)}</td>` +
            `<td>${secs(f.wall.median * 1000)}</td><td>${usd(f.cost.median)}</td>` +
            `<td>${cells.filter((c) => c.subject === s && c.arm === f.arm).reduce((a, c) => a + c.mergeConflicts, 0)}</td></tr>`,
        )
        .join('\n');
      return `<h3>${esc(s)}</h3><table data-subject="${esc(s)}"><tr><th>arm</th><th>passed / cells</th><th>tests passed (mean)</th><th>tests failed (mean)</th><th>wall time (median)</th><th>cost (median)</th><th>merge conflicts</th></tr>${rows}</table>`;
    })
    .join('\n');
}

export function experimentHtml(report: ExperimentReport): string {
  const figures = armFigures(report.cells);
  const pairs = pairedComparisons(report.cells);
  const data = JSON.stringify({ figures }).replace(/</g, '\\u003c');
  const took = report.finishedAt ? secs(report.finishedAt - report.startedAt) : 'still running';
  const cellRows = report.cells
    .map(
      (c) =>
        `<tr data-cell="${esc(c.cellId)}" data-status="${esc(c.status)}"><td>${esc(c.subject)}</td><td>${esc(c.arm)}</td><td>${c.repetition}</td><td>${esc(c.status)}</td>` +
        `<td>${c.evaluationPassed ? 'yes' : 'no'}</td><td>${c.testsPassed}/${c.testsTotal} (${esc(c.testsSource)})</td><td>${secs(c.wallMs)}</td><td>${secs(c.agentMs)}</td>` +
        `<td>${c.inputTokens + c.outputTokens}</td><td>${usd(c.costUsd)}</td><td>${c.mergeConflicts}${c.conflictFiles.length ? ` (${esc(c.conflictFiles.join(', '))})` : ''}</td>` +
        `<td>${c.filesChanged} / +${c.linesAdded} −${c.linesDeleted}</td><td>${esc(c.keptRunId)}${c.reusedFrom ? ` (reused from ${esc(c.reusedFrom)})` : ''}</td><td>${esc(c.failureReason ?? '')}</td></tr>`,
    )
    .join('\n');
  const pairRows = pairs
    .map(
      (p) =>
        `<tr><td>${esc(p.a)} vs ${esc(p.b)}</td><td>${p.pairs}</td><td>${p.onlyA}</td><td>${p.onlyB}</td><td>${p.both}</td><td>${p.neither}</td>` +
        `<td>${Number.isNaN(p.wallDiffMedianS) ? '' : p.wallDiffMedianS.toFixed(1) + ' s'}</td><td>${Number.isNaN(p.costDiffMedian) ? '' : usd(p.costDiffMedian)}</td></tr>`,
    )
    .join('\n');
  const armRows = figures
    .map(
      (f) =>
        `<tr data-arm="${esc(f.arm)}"><td>${esc(f.arm)}</td><td>${f.cells}</td><td>${f.passed}</td><td>${pct(f.rate)} [${pct(f.low)}, ${pct(f.high)}]</td>` +
        `<td>${secs(f.wall.median * 1000)}</td><td>${usd(f.cost.median)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment ${esc(report.name)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}.charts{display:grid;grid-template-columns:1fr 1fr;gap:24px}.chart{height:280px;position:relative}
.note{background:#fff8e0;border:1px solid #e8d48a;padding:8px}
</style></head><body>
<h1>Experiment ${esc(report.name)}</h1>
<p>${esc(report.experimentId)} · ${report.cells.length} of ${report.cellsTotal} cells measured · ${esc(report.status)} · took ${took} · file <code>${esc(report.file)}</code></p>
${report.note ? `<p class="note" data-note>${esc(report.note)}</p>` : ''}
<p class="note" data-traffic="${esc(report.traffic)}"><b>Model traffic: ${esc(report.traffic)}.</b> ${esc(TRAFFIC_NOTE[report.traffic])}</p>
<h2>Per arm</h2>
<table><tr><th>arm</th><th>cells</th><th>passed</th><th>success rate [95% Wilson interval]</th><th>wall time (median)</th><th>cost (median)</th></tr>${armRows}</table>
<div class="charts">
<div><h3>Success rate, 95% interval</h3><div class="chart"><canvas data-chart="success"></canvas></div></div>
<div><h3>Tests passed and failed (mean per cell)</h3><div class="chart"><canvas data-chart="tests"></canvas></div></div>
<div><h3>Wall time per cell, seconds (min–max, quartiles, median)</h3><div class="chart"><canvas data-chart="wall"></canvas></div></div>
<div><h3>Cost per cell, dollars (min–max, quartiles, median)</h3><div class="chart"><canvas data-chart="cost"></canvas></div></div>
</div>
<h2>Per subject</h2>
${subjectTables(report.cells)}
<h2>Paired comparisons</h2>
<p>Arm A against arm B on the same subject and repetition: in how many pairs only A passed, only B, both, neither; and the median of A − B.</p>
<table><tr><th>A vs B</th><th>pairs</th><th>only A passed</th><th>only B passed</th><th>both</th><th>neither</th><th>wall time A − B (median)</th><th>cost A − B (median)</th></tr>${pairRows}</table>
<h2>Cells</h2>
<table><tr><th>subject</th><th>arm</th><th>rep</th><th>status</th><th>evaluation passed</th><th>tests</th><th>wall</th><th>agent time</th><th>tokens</th><th>cost</th><th>merge conflicts</th><th>files / lines</th><th>kept run</th><th>failure</th></tr>
${cellRows}</table>
<script>${chartJs()}</script>
<script type="application/json" id="figures">${data}</script>
<script>
(function () {
  var f = JSON.parse(document.getElementById('figures').textContent).figures;
  var arms = f.map(function (a) { return a.arm + ' (n=' + a.cells + ')'; });
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  window.__charts = {};
  function chart(name, cfg) { window.__charts[name] = new Chart(document.querySelector('canvas[data-chart="' + name + '"]'), cfg); }
  chart('success', { type: 'bar', data: { labels: arms, datasets: [
    { label: 'success rate', data: f.map(function (a) { return a.rate; }), backgroundColor: '#a0cbe8', order: 1 },
    { label: '95% interval', data: f.map(function (a) { return [a.low, a.high]; }), backgroundColor: 'rgba(0,0,0,0.45)', barPercentage: 0.15, grouped: false, order: 0 }
  ] }, options: { scales: { y: { min: 0, max: 1 } } } });
  chart('tests', { type: 'bar', data: { labels: arms, datasets: [
    { label: 'passed', data: f.map(function (a) { return a.testsPassedMean; }), backgroundColor: '#59a14f' },
    { label: 'failed', data: f.map(function (a) { return a.testsFailedMean; }), backgroundColor: '#e15759' }
  ] }, options: { scales: { x: { stacked: true }, y: { stacked: true, min: 0 } } } });
  function spread(name, key) {
    chart(name, { type: 'bar', data: { labels: arms, datasets: [
      { label: 'min–max', data: f.map(function (a) { return [a[key].min, a[key].max]; }), backgroundColor: 'rgba(78,121,167,0.25)', grouped: false },
      { label: 'quartiles', data: f.map(function (a) { return [a[key].q1, a[key].q3]; }), backgroundColor: 'rgba(78,121,167,0.7)', barPercentage: 0.5, grouped: false },
      { type: 'line', label: 'median', data: f.map(function (a) { return a[key].median; }), showLine: false, pointStyle: 'line', pointRadius: 14, borderColor: '#222', borderWidth: 2 }
    ] }, options: { scales: { y: { min: 0 } } } });
  }
  spread('wall', 'wall');
  spread('cost', 'cost');
})();
</script>
</body></html>
`;
}
