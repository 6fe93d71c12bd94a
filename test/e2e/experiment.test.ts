// Experiments on the real parts: the example experiment end to end (every cell an ordinary run in
// Temporal, the CSV, the HTML report in headless Chromium), bad experiment files (exit 2, nothing
// created), and a worker killed mid-experiment.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { connect, loadConfig } from '../../client/api';
import type { ExperimentReport } from '../../contract/experiment-types';
import { CSV_COLUMNS } from '../../experiment/results';
import { containersOfRun, makeRepo, repoState, sh } from '../support/repo';
import { spawnWorker } from '../support/processes';
import { cliWith } from '../support/cli';

const cli = (...args: string[]) => cliWith({ timeoutMs: 900_000 }, ...args);

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'experiment');

/** The example, copied with its subject repositories made (the checkout stays clean). */
function exampleCopy(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-experiment-'));
  cpSync(EXAMPLE, dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}repos`) });
  execFileSync(path.join(dir, 'make-subjects.sh'), { stdio: 'ignore' });
  return dir;
}

function writeExperiment(yaml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-exp-file-'));
  writeFileSync(path.join(dir, 'experiment.yaml'), yaml);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return path.join(dir, 'experiment.yaml');
}

const experimentsDir = () => path.join(process.env.AGENTVISOR_HOME!, 'experiments');
const listed = () => (existsSync(experimentsDir()) ? readdirSync(experimentsDir()) : []);

async function executions(workflowId: string): Promise<{ status: string }[]> {
  const client = await connect(loadConfig(), { startServer: false });
  try {
    const found: { status: string }[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push({ status: wf.status.name });
    return found;
  } finally {
    await client.connection.close();
  }
}

describe('agentvisor experiment', () => {
  test('bad experiment files: exit 2, a clear message, nothing created', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-bad-exp-'));
    const agents = `agents:\n  single: { harness: command, command: "true" }\n`;
    const subject = `subjects:\n  - { name: s, repo: ${repo}, task: do it, evaluate: { command: "true" } }\n`;
    const cases: [string, string, RegExp][] = [
      ['unknown-arm', `name: bad\n${subject}${agents}arms: [single, tournament]\n`, /bad\.yaml:\d+:\d+: arms\.1: unknown arm "tournament"/],
      [
        'no-evaluation',
        `name: bad\nsubjects:\n  - { name: s, repo: ${repo}, task: do it }\n${agents}arms: [single]\n`,
        /bad\.yaml:3:5: subjects\.0: subject "s" has no evaluation/,
      ],
      ['repeat-0', `name: bad\n${subject}${agents}arms: [single]\nrepeat: 0\n`, /bad\.yaml:\d+:\d+: repeat: repeat must be at least 1/],
      [
        'budget-zero',
        `name: bad\n${subject}${agents}arms: [single]\nbudget: { wallTime: 0s }\n`,
        /budget\.wallTime: a wall time of 0s cannot be met/,
      ],
      [
        'budget-unmetered',
        `name: bad\n${subject}${agents}arms: [single]\nbudget: { usd: 2 }\n`,
        /budget\.usd: a token or dollar budget cannot be met or measured: no agent of this experiment calls a model/,
      ],
      ['missing-role', `name: bad\n${subject}${agents}arms: [serial]\n`, /arm "serial" needs an agent for the writer part/],
    ];
    for (const [name, text, message] of cases) {
      const file = path.join(dir, 'bad.yaml');
      writeFileSync(file, text);
      const r = await cli('experiment', file, '--id', `bad-${name}`);
      expect({ name, code: r.code }).toEqual({ name, code: 2 });
      expect(r.stderr).toMatch(message);
      expect(await executions(`bad-${name}`)).toEqual([]);
      const printed = await cli('experiment', file, '--print-graphs');
      expect({ name, code: printed.code }).toEqual({ name, code: 2 });
    }
    expect(listed().filter((e) => e.startsWith('bad-'))).toEqual([]);
    expect(repoState(repo)).toEqual(before);
  });

  test('the example: every cell an ordinary run, one CSV row per cell, the report renders with every arm', async () => {
    const dir = exampleCopy();
    const file = path.join(dir, 'experiment.yaml');
    const graphs = await cli('experiment', file, '--print-graphs', '--id', 'ex');
    expect(graphs.code).toBe(0);
    expect(graphs.stdout).toContain('# cell refactor.parallel.r2: run ex-refactor-parallel-r2');
    expect(graphs.stdout).toContain('ex-bug-fix-best-of-2-r1-c1, ex-bug-fix-best-of-2-r1-c2 (2 runs of this graph; the best is kept)');

    const r = await cli('experiment', file, '--json', '--id', 'ex1');
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as ExperimentReport;
    expect(report).toMatchObject({ experimentId: 'ex1', status: 'completed', traffic: 'none', cellsTotal: 24 });
    expect(report.cells).toHaveLength(24);
    const arms = ['single', 'serial', 'parallel', 'best-of-2'];
    for (const s of ['new-function', 'bug-fix', 'refactor'])
      for (const a of arms) expect(report.cells.filter((c) => c.subject === s && c.arm === a).map((c) => c.repetition)).toEqual([1, 2]);

    // every cell's runs are runs in Temporal, each started once
    for (const c of report.cells) {
      expect(c.runIds).toHaveLength(c.arm === 'best-of-2' ? 2 : 1);
      for (const id of c.runIds) expect((await executions(id)).length).toBe(1);
    }
    // what the scripted agents make of each arm, as measured (see examples/experiment/README.md)
    const cell = (id: string) => report.cells.find((c) => c.cellId === id)!;
    expect(cell('refactor.parallel.r1')).toMatchObject({
      status: 'failed',
      evaluationPassed: false,
      mergeConflicts: 1,
      conflictFiles: ['src/util.js'],
      testsSource: 'none',
    });
    expect(cell('bug-fix.parallel.r1')).toMatchObject({
      evaluationPassed: false,
      testsPassed: 2,
      testsFailed: 1,
      testsTotal: 3,
      testsSource: 'junit',
    });
    expect(cell('bug-fix.parallel.r1').failureReason).toMatch(/evaluation failed/);
    expect(cell('new-function.serial.r1')).toMatchObject({ evaluationPassed: true, testsPassed: 4, testsTotal: 4, testsSource: 'junit' });
    expect(cell('new-function.serial.r1').agentMs).toBeGreaterThan(0);
    // best-of-n keeps one candidate's branches and deletes the other's
    const best = cell('refactor.best-of-2.r1');
    expect(best.evaluationPassed).toBe(true);
    const repo = path.join(dir, 'repos', 'refactor');
    const branches = sh(repo, 'branch', '--list', 'agentvisor/ex1-*');
    expect(branches).toContain(`agentvisor/${best.keptRunId}`);
    for (const other of best.runIds.filter((id) => id !== best.keptRunId)) expect(branches).not.toContain(`agentvisor/${other}`);

    // never more than 3 cells at once (the file's concurrency), by the experiment's history: a
    // best-of-2 cell is two runs, so at most 6 runs were open at any point
    let open = 0;
    let most = 0;
    const client = await connect(loadConfig(), { startServer: false });
    try {
      for (const e of (await client.workflow.getHandle('ex1').fetchHistory()).events ?? []) {
        if (e.startChildWorkflowExecutionInitiatedEventAttributes) most = Math.max(most, ++open);
        if (e.childWorkflowExecutionCompletedEventAttributes || e.childWorkflowExecutionFailedEventAttributes) open--;
      }
    } finally {
      await client.connection.close();
    }
    expect(most).toBeLessThanOrEqual(6);
    expect(open).toBe(0);

    // the CSV: a header and one row per cell
    const results = path.join(experimentsDir(), 'ex1');
    const csv = readFileSync(path.join(results, 'results.csv'), 'utf8').trimEnd().split('\r\n');
    expect(csv[0]).toBe(CSV_COLUMNS.join(','));
    expect(csv).toHaveLength(25);
    expect(csv.find((l) => l.startsWith('refactor.parallel.r1,'))).toContain(',1,src/util.js,');
    expect(JSON.parse(readFileSync(path.join(results, 'results.json'), 'utf8')).cells).toHaveLength(24);

    // the report in a real browser: no console error, every chart shows every arm
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
      page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
      page.on('request', (req) => !req.url().startsWith('file:') && problems.push(`request: ${req.url()}`));
      await page.goto(`file://${path.join(results, 'report.html')}`);
      // (run in the page: written as text, since the tests are compiled without the DOM's types)
      const charts = (await page.evaluate('Object.entries(window.__charts).map(([name, c]) => ({ name, labels: c.data.labels }))')) as {
        name: string;
        labels: string[];
      }[];
      expect(charts.map((c) => c.name).sort()).toEqual(['cost', 'success', 'tests', 'wall']);
      for (const c of charts) expect(c.labels).toEqual(arms.map((a) => `${a} (n=6)`));
      // drawn: each canvas has pixels that are not blank
      const drawn = await page.evaluate(
        "[...document.querySelectorAll('canvas')].map((c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v !== 0))",
      );
      expect(drawn).toEqual([true, true, true, true]);
      expect(await page.locator('tr[data-arm="parallel"]').innerText()).toContain('2\t33% [10%, 70%]');
      expect(await page.locator('[data-traffic="none"]').innerText()).toContain('scripted');
      expect(await page.locator('[data-note]').innerText()).toContain('not models');
      expect(await page.locator('table[data-subject]').count()).toBe(3);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 900_000);

  test('a worker killed mid-experiment: the experiment completes, each cell run once', async () => {
    const dir = exampleCopy();
    const file = path.join(dir, 'small.yaml');
    writeFileSync(
      file,
      readFileSync(path.join(dir, 'experiment.yaml'), 'utf8')
        .replace(/^repeat: 2$/m, 'repeat: 1')
        .replace(/^concurrency: 3/m, 'concurrency: 2'),
    );
    let worker = await spawnWorker();
    try {
      const started = await cli('experiment', file, '--detach', '--json', '--id', 'kill1');
      expect(started.code).toBe(0);
      // kill it once a cell has finished and others are in flight
      const client = await connect(loadConfig(), { startServer: false });
      try {
        const { experimentStatusQuery } = await import('../../workflows/messages');
        for (;;) {
          const q = await client.workflow.getHandle('kill1').query(experimentStatusQuery);
          if (q.cells.length >= 1) break;
          await new Promise((r) => setTimeout(r, 500));
        }
        await worker.kill9();
        worker = await spawnWorker();
        const report = (await client.workflow.getHandle('kill1').result()) as ExperimentReport;
        expect(report.status).toBe('completed');
        expect(report.cells.map((c) => c.cellId).sort()).toEqual(
          ['new-function', 'bug-fix', 'refactor']
            .flatMap((s) => ['single', 'serial', 'parallel', 'best-of-2'].map((a) => `${s}.${a}.r1`))
            .sort(),
        );
        const runs = report.cells.flatMap((c) => c.runIds);
        for (const id of runs) expect((await executions(id)).map((e) => e.status)).toEqual([expect.stringMatching(/^(COMPLETED|FAILED)$/)]);
        // the kill cost no cell: each has its measurements
        expect(report.cells.filter((c) => c.evaluationPassed).map((c) => c.cellId)).toContain('new-function.single.r1');
      } finally {
        await client.connection.close();
      }
    } finally {
      await worker.stop();
    }
  }, 900_000);

  test('resume redoes only the failed cell and takes the completed ones as they were', async () => {
    // the writer fails until the repository has the file "go": then the same graph succeeds
    const repo = makeRepo({ 'README.md': '# subject\n' });
    const file = writeExperiment(
      `
name: resume
subjects:
  - { name: s, repo: ${repo}, task: do it, evaluate: { command: "test -f done.txt" } }
agents:
  single:  { harness: command, command: "echo one > done.txt" }
  writer:  { harness: command, command: "test -f go || { echo 'no go' >&2; exit 3; }; echo w > done.txt" }
  tester:  { harness: command, command: "echo t > t.txt" }
  auditor: { harness: command, command: "echo a > a.txt" }
arms: [single, serial, { name: custom, graph: ./custom.yaml }]
`,
      {
        // a graph arm: the subject's repository, base branch and task go into its placeholders
        'custom.yaml': `
name: custom
repo: {{repo}}
baseBranch: {{baseBranch}}
agents: { solo: { harness: command, command: 'printf "%s" "$AGENTVISOR_PROMPT" > done.txt' } }
tasks: [{ id: only, agent: solo, prompt: {{task}} }]
`,
      },
    );
    const first = await cli('experiment', file, '--json', '--id', 'res1');
    expect(first.code).toBe(0);
    const r1 = JSON.parse(first.stdout) as ExperimentReport;
    expect(r1.cells.map((c) => [c.cellId, c.status])).toEqual([
      ['s.single.r1', 'completed'],
      ['s.serial.r1', 'failed'],
      ['s.custom.r1', 'completed'],
    ]);
    expect(sh(repo, 'show', 'agentvisor/res1-s-custom-r1:done.txt')).toBe('do it');
    expect(r1.cells[1].failureReason).toMatch(/exited with code 3|no go/);

    writeFileSync(path.join(repo, 'go'), '');
    sh(repo, 'add', 'go');
    sh(repo, '-c', 'user.name=test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'go');
    const second = await cli('experiment', file, '--json', '--id', 'res2', '--resume', 'res1');
    expect(second.code).toBe(0);
    const r2 = JSON.parse(second.stdout) as ExperimentReport;
    // the completed cell is taken as it was: its run, not a new one
    expect(r2.cells[0]).toEqual({ ...r1.cells[0], reusedFrom: 'res1' });
    expect(r2.cells[2]).toEqual({ ...r1.cells[2], reusedFrom: 'res1' });
    expect(await executions('res2-s-single-r1')).toEqual([]);
    // the failed one ran again, once
    expect(r2.cells[1]).toMatchObject({ cellId: 's.serial.r1', status: 'completed', runIds: ['res2-s-serial-r1'] });
    expect(r2.cells[1].reusedFrom).toBeUndefined();
    expect((await executions('res2-s-serial-r1')).length).toBe(1);
    // a cell's run is resumed through its experiment
    const cellResume = await cli('resume', 'res1-s-serial-r1');
    expect(cellResume.code).toBe(2);
    expect(cellResume.stderr).toContain('is a cell of experiment "res1"');
    // a running or unknown experiment cannot be resumed
    const unknown = await cli('experiment', file, '--resume', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no experiment "nope" to resume');
  }, 600_000);

  test('cancel rolls back the cells in flight; status and report show the experiment', async () => {
    const dir = exampleCopy();
    const file = path.join(dir, 'small.yaml');
    writeFileSync(file, readFileSync(path.join(dir, 'experiment.yaml'), 'utf8').replace(/^repeat: 2$/m, 'repeat: 1'));
    const worker = await spawnWorker();
    const client = await connect(loadConfig(), { startServer: false });
    try {
      expect((await cli('experiment', file, '--detach', '--id', 'can1')).code).toBe(0);
      // cancel once some cell's run is at work
      for (;;) {
        const running = [];
        for await (const wf of client.workflow.list({ query: `WorkflowType = 'runGraph' AND ExecutionStatus = 'Running'` }))
          if (wf.workflowId.startsWith('can1-')) running.push(wf.workflowId);
        if (running.length) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await cli('cancel', 'can1')).code).toBe(0);
      const report = (await client.workflow.getHandle('can1').result()) as ExperimentReport;
      expect(report.status).toBe('cancelled');

      const runIds = ['new-function', 'bug-fix', 'refactor'].flatMap((s) =>
        ['single', 'serial', 'parallel'].map((a) => `can1-${s}-${a}-r1`).concat([1, 2].map((k) => `can1-${s}-best-of-2-r1-c${k}`)),
      );
      const cancelled: string[] = [];
      for (const id of runIds) {
        const found = await executions(id);
        if (found.length === 0) continue; // never started
        const handle = client.workflow.getHandle(id);
        await handle.result().catch(() => undefined); // its rollback done
        const status = (await handle.describe()).status.name;
        expect(status).not.toBe('RUNNING');
        if (status === 'CANCELLED') cancelled.push(id);
      }
      expect(cancelled.length).toBeGreaterThan(0);
      for (const id of cancelled) {
        const repo = path.join(
          dir,
          'repos',
          id
            .split('-r1')[0]
            .replace(/^can1-/, '')
            .replace(/-(single|serial|parallel|best-of-2)$/, ''),
        );
        expect(sh(repo, 'branch', '--list', `agentvisor/${id}`, `agentvisor-tasks/${id}/*`)).toBe('');
        expect(await containersOfRun(id)).toEqual([]);
      }

      const ls = await cli('ls', '--experiments', '--json');
      expect(JSON.parse(ls.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ experimentId: 'can1', name: 'arms' })]));
      const status = await cli('status', 'can1', '--json');
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ experimentId: 'can1', status: 'cancelled' });
      const out = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-exp-report-'));
      const written = await cli('report', 'can1', '--out', out);
      expect(written.code).toBe(0);
      expect(readFileSync(path.join(out, 'results.csv'), 'utf8').trimEnd().split('\r\n')).toHaveLength(report.cells.length + 1);
      expect(readFileSync(path.join(out, 'report.html'), 'utf8')).toContain('cancelled');
    } finally {
      await client.connection.close();
      await worker.stop();
    }
  }, 600_000);
});
