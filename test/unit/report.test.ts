// The HTML report: graph nodes coloured by outcome with their edges, timeline bars placed in time.
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { reportHtml, writeRunReport } from '../../client/report';
import { detailsMarkdown } from '../../workflows/details';
import type { RunReport } from '../../contract/run-types';

/** The first cells of a details table row (each but a row's last padded: contract/text-safety.ts markdownRow). */
const leadingCells = (...cells: string[]) => `| ${cells.map((c) => `${c}\u00a0\u00a0`).join(' | ')} |`;

const t0 = 1_000_000;
const task = (id: string, status: string, after: string[], start?: number, end?: number) =>
  ({
    id,
    agent: `agent-${id}`,
    after,
    status,
    filesChanged: 1,
    insertions: 2,
    deletions: 0,
    files: [],
    startedAt: start === undefined ? undefined : t0 + start,
    finishedAt: end === undefined ? undefined : t0 + end,
  }) as RunReport['tasks'][0];

const report: RunReport = {
  runId: 'r1',
  graphName: 'g',
  repo: '/repo',
  status: 'failed',
  integrationBranch: 'agentvisor/r1',
  startedAt: t0,
  finishedAt: t0 + 10_000,
  tasks: [task('a', 'succeeded', [], 0, 4000), task('b', 'failed', [], 1000, 5000), task('c', 'skipped', ['a', 'b'])],
  merge: { status: 'skipped', conflicts: [] },
  evaluation: null,
  error: 'task failed: b <oops>',
  artifactsDir: '/tmp/x',
};

test('graph, timeline and table', () => {
  const html = reportHtml(report);
  expect(html.match(/<g class="node"/g)).toHaveLength(3);
  expect(html).toContain('data-task="b" data-status="failed"');
  expect(html.match(/class="edge"/g)).toHaveLength(2); // a→c, b→c
  const bars = [...html.matchAll(/class="bar" data-task="(\w)" style="left:([\d.]+)%;width:([\d.]+)%/g)].map((m) => [
    m[1],
    Number(m[2]),
    Number(m[3]),
  ]);
  expect(bars).toEqual([
    ['a', 0, 40],
    ['b', 10, 40],
  ]); // overlapping bars: a and b ran in parallel; c never started
  expect(html).toContain('task failed: b &#60;oops&#62;'); // escaped
});

test('writes report.html and report.md', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-report-'));
  const files = writeRunReport(report, undefined, dir);
  expect(readFileSync(files.html, 'utf8')).toMatch(/^<!doctype html>/);
  expect(readFileSync(files.markdown, 'utf8')).toContain(leadingCells('b', 'agent-b', 'failed'));
});

test('tokens and cost per task and the totals', () => {
  const priced: RunReport = {
    ...report,
    tasks: [
      { ...report.tasks[0], usage: { inputTokens: 12_000, outputTokens: 500, cachedTokens: 0, costUsd: 0.25 } },
      { ...report.tasks[1], usage: { inputTokens: 1_000, outputTokens: 0, cachedTokens: 0, costUsd: 1.5 } },
      report.tasks[2],
    ],
  };
  const html = reportHtml(priced);
  expect(html).toContain('<td class="num">12.5k</td><td class="num">$0.2500</td>');
  const totals = Object.fromEntries([...html.matchAll(/data-total="([\w-]+)">([^<]*)</g)].map((m) => [m[1], m[2]]));
  expect(totals).toEqual({
    tasks: '1 of 3 succeeded',
    'wall-time': '10.0s',
    'agent-time': '8.0s',
    'files-changed': '3',
    lines: '+6 −0',
    tokens: '13.5k (in 13.0k, out 500)',
    cost: '$1.75',
  });
  expect(reportHtml(report)).toMatch(/data-total="cost">—</); // no usage reported: no made-up figure
});

// What an agent writes (its error tail, a proposal's file name and reason, a file it committed)
// shows as text: in the HTML report, and in the markdown of report.md and the Temporal UI's details.
describe("an agent's text", () => {
  const hostile = '<img src=x onerror=alert(1)> [click](https://evil.example) **x** | y \x1b[2J';
  const attacked: RunReport = {
    ...report,
    tasks: [{ ...report.tasks[1], error: `exit 1: ${hostile}\n| fake | row |` }],
    proposals: [
      { by: 'b', file: `![p](https://tracker.example/p.png)<b>.yaml`, tasks: [], status: 'refused', reason: `malformed: ${hostile}` },
    ],
    merge: { status: 'conflict', conflicts: [{ taskId: 'b', conflictsWith: ['a'], files: ['<script>x</script>.js'] }] },
    error: `task failed: b (${hostile})`,
  };

  test('is escaped in the HTML report', () => {
    const html = reportHtml(attacked);
    expect(html).not.toMatch(/<img|<script|<b>\.yaml|\x1b/);
    expect(html).toContain('&#60;img src=x onerror=alert(1)&#62;');
  });

  test('is escaped in the details markdown: no HTML, link, image, table row or terminal sequence', () => {
    const md = detailsMarkdown(attacked);
    expect(md).not.toMatch(/[^\\]<img|[^\\]<script|[^\\]<b>|\x1b|[^\\]\[click|[^\\]!\[p|\n\| fake/);
    expect(md).toContain(leadingCells('b', 'agent-b', 'failed'));
    expect(md).toContain('exit 1: \\<img src=x onerror=alert\\(1\\)\\> \\[click\\]\\(https\\://evil.example\\) \\*\\*x\\*\\* \\| y');
    expect(md).toContain('proposal \\!\\[p\\]\\(https\\://tracker.example/p.png\\)\\<b\\>.yaml of b: **refused**');
    expect(md).toContain('in \\<script\\>x\\</script\\>.js');
    // every table row still has its seven cells
    for (const row of md.split('\n').filter((l) => l.startsWith('| b\u00a0'))) expect(row.split(/(?<!\\)\|/).length - 2).toBe(7);
  });
});
