// An experiment's model traffic, kept with --record and served again with --replay: on a real
// server, engine, git and gateway, with a stand-in provider (test/support/fake-upstream.js) in a
// container, stopped before the replay, so that the replay can only come from the cassettes.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ExperimentReport } from '../../contract/experiment-types';
import { DockerRuntime } from '../../runtimes/docker';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream-container';
import { makeRepo } from '../support/repo';
import { cliWith } from '../support/cli';

const cli = (...args: string[]) => cliWith({ timeoutMs: 600_000 }, ...args);

const runtime = new DockerRuntime();

let upstreamContainer: FakeUpstream;

beforeAll(async () => {
  upstreamContainer = await startFakeUpstream(['fake-anthropic']);
  process.env.TEST_ANTHROPIC_KEY = 'sk-ant-test-key-for-the-fake-upstream';
});

afterAll(async () => {
  await upstreamContainer.remove();
});

const CALLER = String.raw`
const call = () => fetch(process.env.AGENTVISOR_GATEWAY_URL + '/anthropic/v1/messages', {
  method: 'POST', headers: { 'x-api-key': process.env.AGENTVISOR_GATEWAY_TOKEN, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
}).then(async (r) => r.status + ' ' + (await r.text()).slice(0, 100));
(async () => { for (let i = 1; i <= 2; i++) console.log('call ' + i + ':', await call()); })();
`;

test('--replay of a recorded experiment reproduces every cell’s tokens, cost and evaluation', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-exp-replay-'));
  const file = path.join(dir, 'experiment.yaml');
  writeFileSync(
    file,
    `
name: replay
subjects:
  - { name: s, repo: ${makeRepo()}, task: call the model twice, evaluate: { command: "grep -q 'call 2: 200' calls.txt" } }
gateway: { upstreams: { anthropic: "http://fake-anthropic:9000" } }
agents:
  single:
    harness: command
    command: node -e "$CALLER_JS" > calls.txt
    env: { CALLER_JS: ${JSON.stringify(CALLER)} }
    credentials: { anthropic: env:TEST_ANTHROPIC_KEY }
arms: [single, { arm: best-of-n, n: 2 }]
`,
  );
  const cassettes = path.join(dir, 'traffic');
  const recorded = await cli('experiment', file, '--json', '--id', 'rec1', '--record', cassettes);
  expect(recorded.code).toBe(0);
  const r1 = JSON.parse(recorded.stdout) as ExperimentReport;
  expect(r1.traffic).toBe('record');
  expect(r1.cells.map((c) => [c.cellId, c.evaluationPassed])).toEqual([
    ['s.single.r1', true],
    ['s.best-of-2.r1', true],
  ]);
  // a cassette per run: the single cell's, and each best-of-2 candidate's
  for (const p of ['s/single/r1/solve.yaml', 's/best-of-2/r1/c1/solve.yaml', 's/best-of-2/r1/c2/solve.yaml']) {
    expect(existsSync(path.join(cassettes, p))).toBe(true);
  }
  expect(r1.cells[0]).toMatchObject({ inputTokens: 800, outputTokens: 400 });
  expect(r1.cells[0].costUsd).toBeGreaterThan(0);

  await runtime.stop(upstreamContainer.name, 1); // from here on, no provider at all
  const replayed = await cli('experiment', file, '--json', '--id', 'rep1', '--replay', cassettes);
  expect(replayed.code).toBe(0);
  const r2 = JSON.parse(replayed.stdout) as ExperimentReport;
  expect(r2.traffic).toBe('replay');
  const figures = (r: ExperimentReport) =>
    r.cells.map((c) => ({
      cell: c.cellId,
      inputTokens: c.inputTokens,
      outputTokens: c.outputTokens,
      cachedTokens: c.cachedTokens,
      costUsd: c.costUsd,
      evaluationPassed: c.evaluationPassed,
      tests: [c.testsPassed, c.testsFailed, c.testsTotal],
    }));
  expect(figures(r2)).toEqual(figures(r1));
  const html = readFileSync(path.join(r2.resultsDir, 'report.html'), 'utf8');
  expect(html).toContain('data-traffic="replay"');

  // replaying from a folder with no cassettes: exit 2 before anything starts
  const empty = await cli('experiment', file, '--id', 'rep2', '--replay', path.join(dir, 'nothing'));
  expect(empty.code).toBe(2);
  expect(empty.stderr).toContain('cassette folder not found');
}, 600_000);
