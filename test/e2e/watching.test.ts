// Watching a run, as a user does: a three-task run (two in parallel, one after both) whose agents
// make model calls through the run's gateway (replaying hand-written cassettes, so tokens and cost
// are real figures of the real meter), run by `agentvisor worker` with its metrics port, followed
// by the CLI in plain (non-TTY) mode. Then: the Temporal UI in a real headless Chromium, search
// attributes through the Temporal CLI, `ls`, the report (HTML checked, then rendered by Chromium),
// the Prometheus endpoint, and `logs -f` on an agent that waits for the test before its last line.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { findTemporalCli } from '../../client/dev-server';
import { runArtifactsDir } from '../../paths/data-folder';
import { lastActivityLines } from '../../client/activity-lines';
import { getRunReport } from '../../client/api';
import { freePort } from '../support/ports';
import { spawnWorker, type WorkerProcess } from '../support/processes';
import { recordHistories } from '../support/record-history';
import { makeRepo, writeGraph } from '../support/repo';
import { testClient } from '../support/temporal';
import { cliWith } from '../support/cli';
import { waitForFrameText } from '../support/ui-frames';

const cli = (...args: string[]) => cliWith({ timeoutMs: 150_000 }, ...args);

const BIN = path.join(__dirname, '..', '..', 'bin', 'agentvisor.js');
/** Screenshots land here (git-ignored); CI keeps them as artifacts. */
const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');

async function eventually<T>(get: () => Promise<T> | T, ok: (v: T) => boolean, tries = 60, everyMs = 250): Promise<T> {
  let v = await get();
  for (let i = 0; i < tries && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, everyMs));
    v = await get();
  }
  return v;
}

/** A cassette answering the task's one model call with the given usage. */
const cassette = (task: string, input: number, output: number) => `version: 1
task: ${task}
interactions:
  - request: { provider: anthropic, method: POST, path: /v1/messages }
    response:
      body: { id: msg_${task}, type: message, role: assistant, model: claude-sonnet-4-5, content: [{ type: text, text: ok }], usage: { input_tokens: ${input}, output_tokens: ${output} } }
`;

const CALL = `fetch(process.env.AGENTVISOR_GATEWAY_URL + '/anthropic/v1/messages', { method: 'POST', headers: { 'x-api-key': process.env.AGENTVISOR_GATEWAY_TOKEN, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) }).then(async (r) => console.log('model said', r.status))`;

// ids of this process: containers are named after runs, and one left by an aborted earlier test
// run of the same id would be re-attached (its exit taken as the result) instead of started
const RUN = `watch-${process.pid}`;
const LOGS_RUN = `watch-logs-${process.pid}`;
let worker: WorkerProcess;
let metricsPort: number;
let browser: Browser;
let repo: string;
let runOutput: { code: number; stdout: string; stderr: string };

beforeAll(async () => {
  process.env.TEST_WATCH_KEY = 'sk-ant-watch-test-not-a-real-key-0000';
  metricsPort = await freePort();
  worker = await spawnWorker(process.env, ['--metrics-port', String(metricsPort)]);
  mkdirSync(ARTIFACTS, { recursive: true });
  const cassettes = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-watch-cassettes-'));
  chmodSync(cassettes, 0o755); // the gateway container reads them as an unprivileged user
  writeFileSync(path.join(cassettes, 'parse.yaml'), cassette('parse', 1200, 300));
  writeFileSync(path.join(cassettes, 'render.yaml'), cassette('render', 2400, 300));
  writeFileSync(path.join(cassettes, 'integrate.yaml'), cassette('integrate', 600, 300));
  repo = makeRepo();
  const file = writeGraph(`
name: watch-three
repo: ${repo}
gateway: { mode: replay, cassettes: ${JSON.stringify(cassettes)} }
agents:
  coder:
    harness: command
    command: node -e "$CALL" > "out-$AGENTVISOR_TASK.txt" && cat "out-$AGENTVISOR_TASK.txt"
    env: { CALL: ${JSON.stringify(CALL)} }
    credentials: { anthropic: env:TEST_WATCH_KEY }
tasks:
  - { id: parse, agent: coder, prompt: "Parse the input" }
  - { id: render, agent: coder, prompt: "Render the output" }
  - { id: integrate, agent: coder, after: [parse, render], prompt: "Put parse and render together" }
`);
  runOutput = await cli('run', file, '--id', RUN); // stdout is a pipe: plain lines
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
}, 170_000);

afterAll(async () => {
  delete process.env.TEST_WATCH_KEY;
  await browser?.close();
  await worker?.stop();
});

test('the CLI follows the run in plain lines, with tokens and cost per task and in total', () => {
  expect(runOutput.code).toBe(0);
  const log = readFileSync(path.join(runArtifactsDir(process.env.AGENTVISOR_HOME!, RUN), 'logs', 'parse.log'), 'utf8');
  expect(log).toBe('model said 200\n'); // through the gateway, from the cassette
  const lines = runOutput.stdout.split('\n');
  // 1200 in + 300 out at $3/$15 per million: $0.0081
  expect(lines).toContainEqual(
    expect.stringMatching(/^task parse \[coder\] succeeded \(1 files, [0-9a-f]{10}, 1\.5k tokens, \$0\.0081\)$/),
  );
  expect(lines).toContainEqual(
    expect.stringMatching(/^task render \[coder\] succeeded \(1 files, [0-9a-f]{10}, 2\.7k tokens, \$0\.0117\)$/),
  );
  expect(lines).toContainEqual(
    expect.stringMatching(/^task integrate \[coder\] succeeded \(1 files, [0-9a-f]{10}, 900 tokens, \$0\.0063\)$/),
  );
  expect(lines).toContain('total: 5.1k tokens, $0.0261');
  expect(runOutput.stdout).not.toContain('\x1b['); // no colours or redraws in a log
  recordHistories('cost-search-attribute', [RUN]);
});

test('search attributes: the Temporal CLI finds the run by graph name, status and cost', async () => {
  const list = (query: string) =>
    (
      JSON.parse(
        execFileSync(findTemporalCli()!, ['workflow', 'list', '--address', process.env.TEMPORAL_ADDRESS!, '--query', query, '-o', 'json'], {
          encoding: 'utf8',
        }) || '[]',
      ) as { execution: { workflowId: string } }[]
    ).map((w) => w.execution.workflowId);
  // visibility is eventually consistent
  const found = await eventually(
    () => list("AgentvisorGraph='watch-three' AND ExecutionStatus='Completed'"),
    (ids) => ids.includes(RUN),
  );
  expect(found).toEqual([RUN]);
  expect(
    list("AgentvisorGraph='watch-three' AND AgentvisorStatus='completed' AND AgentvisorCostUsd > 0.026 AND AgentvisorCostUsd < 0.027"),
  ).toEqual([RUN]);
  expect(list("AgentvisorGraph='watch-three' AND ExecutionStatus='Failed'")).toEqual([]);
  expect(list("AgentvisorGraph='no-such-graph'")).toEqual([]);

  // and `ls` shows the cost
  const ls = await cli('ls', '--graph', 'watch-three');
  const [head, row] = ls.stdout.trim().split('\n');
  expect(head.split(/\s+/)).toEqual(['RUN', 'STATUS', 'GRAPH', 'STARTED', 'DURATION', 'COST']);
  expect(row.split(/\s{2,}/)).toEqual([
    RUN,
    'completed',
    'watch-three',
    expect.stringMatching(/ ago$/),
    expect.stringMatching(/^\d+ \w+$/),
    '$0.0261',
  ]);
});

test('the Temporal UI, in a real browser, shows the run’s summary, its details and its task children', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1150 } });
  try {
    await page.goto(`${process.env.AGENTVISOR_UI_URL}/namespaces/default/workflows/${RUN}`);
    // the timeline: one bar per task child, labelled with its summary instead of a bare id
    for (const task of ['parse', 'render', 'integrate'])
      await page.getByText(`watch-three · ${task} · coder (command)`).first().waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-run.png') });

    await page.getByRole('tab', { name: /User Metadata/ }).click();
    await waitForFrameText(page, `watch-three: 3 tasks on ${path.basename(repo)}`);
    // current details come from the worker (a query): the table with tokens and cost
    await waitForFrameText(page, 'total: 5.1k tokens, $0.0261');
    await page.screenshot({ path: path.join(ARTIFACTS, 'ui-details.png') });

    await page.getByRole('tab', { name: /Relationships/ }).click();
    for (const task of ['parse', 'render', 'integrate']) await page.getByText(`${RUN}/${task}`, { exact: true }).waitFor();
  } finally {
    await page.close();
  }
});

test('the report of the run: every task, the timeline and the totals; Chromium renders it without errors', async () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-watch-report-'));
  const r = await cli('report', RUN, '--out', out);
  expect(r.code).toBe(0);
  const html = readFileSync(path.join(out, 'report.html'), 'utf8');
  for (const task of ['parse', 'render', 'integrate']) {
    expect(html).toContain(`<g class="node" data-task="${task}" data-status="succeeded">`);
    expect(html).toMatch(new RegExp(`class="bar" data-task="${task}" style="left:[\\d.]+%;width:[\\d.]+%`));
  }
  expect(html.match(/class="edge"/g)).toHaveLength(2); // parse → integrate, render → integrate
  const totals = Object.fromEntries([...html.matchAll(/data-total="([\w-]+)">([^<]*)</g)].map((m) => [m[1], m[2]]));
  expect(totals).toMatchObject({
    tasks: '3 of 3 succeeded',
    'files-changed': '3',
    lines: '+3 −0',
    tokens: '5.1k (in 4.2k, out 900)',
    cost: '$0.0261',
  });
  expect(readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('total: 5.1k tokens, $0.0261');

  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
  try {
    await page.goto(`file://${path.join(out, 'report.html')}`, { waitUntil: 'load' });
    // laid out as meant: the timeline shows parse and render side by side, integrate after both
    const bar = async (task: string) => (await page.locator(`.bar[data-task="${task}"]`).boundingBox())!;
    const [parse, render, integrate] = [await bar('parse'), await bar('render'), await bar('integrate')];
    for (const b of [parse, render, integrate]) expect(b.width).toBeGreaterThan(0);
    expect(Math.max(parse.x, render.x)).toBeLessThan(Math.min(parse.x + parse.width, render.x + render.width)); // overlap
    expect(integrate.x).toBeGreaterThanOrEqual(Math.max(parse.x + parse.width, render.x + render.width) - 1);
    expect(await page.locator('svg .node').count()).toBe(3);
    expect(await page.locator('#totals').innerText()).toContain('$0.0261');
    await page.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
  } finally {
    await page.close();
  }
  expect(problems).toEqual([]);
});

test('the worker’s Prometheus endpoint serves the task, token and cost counters', async () => {
  const metrics = await eventually(
    async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    (t) => /agentvisor_agent_runs\{[^}]*outcome="succeeded"[^}]*\} 3\b/.test(t),
  );
  expect(metrics).toMatch(/agentvisor_agent_runs\{[^}]*outcome="succeeded"[^}]*\} 3\b/);
  expect(metrics).toMatch(/agentvisor_tokens\{[^}]*kind="input"[^}]*\} 4200\b/);
  expect(metrics).toMatch(/agentvisor_tokens\{[^}]*kind="output"[^}]*\} 900\b/);
  const costSum = /agentvisor_task_cost_sum\{[^}]*\} ([\d.e-]+)/.exec(metrics);
  expect(Number(costSum?.[1])).toBeCloseTo(0.0261, 6);
  expect(metrics).toMatch(/agentvisor_task_cost_count\{[^}]*\} 3\b/);
  // buckets in dollars: two of the three attempts cost under a cent
  expect(metrics).toMatch(/agentvisor_task_cost_bucket\{[^}]*le="0.01"\} 2\b/);
  expect(metrics).toMatch(/agentvisor_task_cost_bucket\{[^}]*le="0.1"\} 3\b/);
  expect(metrics).not.toMatch(/agentvisor_agent_runs\{[^}]*outcome="failed"/);
});

test('logs -f shows an agent’s lines while it is still running', async () => {
  const file = writeGraph(`
name: watch-logs
repo: ${makeRepo()}
agents:
  talker: { harness: command, command: "echo first line; while [ ! -f .go ]; do sleep 0.2; done; echo second line" }
tasks: [ { id: talk, agent: talker } ]
`);
  const started = await cli('run', file, '--id', LOGS_RUN, '--detach');
  expect(started.code).toBe(0);
  // the agent waits for this file (in its worktree) before its second line
  const marker = path.join(runArtifactsDir(process.env.AGENTVISOR_HOME!, LOGS_RUN), 'worktrees', 'talk', '.go');
  const follower = spawn(process.execPath, [BIN, 'logs', LOGS_RUN, 'talk', '-f'], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  follower.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => follower.once('exit', resolve));
  const client = await testClient();
  try {
    await eventually(
      () => out,
      (o) => o.includes('first line'),
      240,
    );
    expect(out).toBe('first line\n');
    // the agent is still running: its second line cannot exist yet
    expect((await client.workflow.getHandle(`${LOGS_RUN}/talk`).describe()).status.name).toBe('RUNNING');
    // the live table's "last activity" of the running task: its last line, from the heartbeats
    const live = await getRunReport(client, LOGS_RUN);
    expect(live.tasks[0].status).toBe('running');
    const lines = await eventually(
      () => lastActivityLines(client, live),
      (m) => m.get('talk') === 'first line',
      60,
    );
    expect(lines.get('talk')).toBe('first line');
    writeFileSync(marker, '');
    expect(await exited).toBe(0); // follows until the run is over
    expect(out).toBe('first line\nsecond line\n');
    expect((await client.workflow.getHandle(LOGS_RUN).describe()).status.name).toBe('COMPLETED');
  } finally {
    try {
      writeFileSync(marker, ''); // never leave the agent waiting
    } catch {
      // no worktree: the run is over
    }
    follower.kill();
    await client.connection.close();
  }
});

afterAll(() => {
  // the README's screenshots come from these: `cp test-artifacts/{ui-run,ui-details,report}.png docs/`
  if (process.env.AGENTVISOR_UPDATE_DOCS_SCREENSHOTS) {
    for (const f of ['ui-run.png', 'ui-details.png', 'report.png'])
      copyFileSync(path.join(ARTIFACTS, f), path.join(__dirname, '..', '..', 'docs', f));
  }
});
