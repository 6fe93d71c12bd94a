// A run with a gateway, on real containers and a real internal network: the agent reaches an
// allowed host and is refused another; its model calls carry its token, the upstream receives the
// real key, which appears nowhere else; usage is metered and the budget ends the task.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { findTemporalCli } from '../../client/dev-server';
import { DockerRuntime } from '../../runtimes/docker';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream-container';
import { containersOfRun, makeRepo, repoState, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';
import { recordHistories } from '../support/record-history';

const SECRET = 'sk-ant-REAL-SECRET-never-to-be-seen-4711';
const runtime = new DockerRuntime();

let upstreamContainer: FakeUpstream;

beforeAll(async () => {
  upstreamContainer = await startFakeUpstream(['fake-anthropic', 'allowed-host', 'blocked-host']);
  process.env.TEST_ANTHROPIC_KEY = SECRET;
});

afterAll(async () => {
  await upstreamContainer.remove();
});

const CALLER = String.raw`
const http = require('http');
const token = process.env.AGENTVISOR_GATEWAY_TOKEN;
const viaProxy = (host) => new Promise((resolve) => {
  const u = new URL(process.env.HTTP_PROXY);
  http.get({ host: u.hostname, port: u.port, path: 'http://' + host + ':9000/', headers: { 'Proxy-Authorization': 'Basic ' + Buffer.from(decodeURIComponent(u.username) + ':').toString('base64') } }, (r) => {
    let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => resolve(r.statusCode + ' ' + b));
  }).on('error', (e) => resolve('error ' + e.message));
});
const call = () => fetch(process.env.AGENTVISOR_GATEWAY_URL + '/anthropic/v1/messages', {
  method: 'POST', headers: { 'x-api-key': token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
  body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
}).then(async (r) => r.status + ' ' + (await r.text()).slice(0, 200));
(async () => {
  console.log('allowed:', await viaProxy('allowed-host'));
  console.log('blocked:', await viaProxy('blocked-host'));
  for (let i = 1; i <= 3; i++) console.log('call ' + i + ':', await call());
  console.log('env:', JSON.stringify(process.env));
  await new Promise((r) => setTimeout(r, 30000)); // the budget watch stops it before this ends
})();
`;

test('egress allowlist, credential injection, metering and a budget, through the run’s gateway', async () => {
  const repo = makeRepo();
  const before = repoState(repo);
  const networksBefore = (await new Docker().listNetworks()).map((n) => n.Name).sort();
  const file = writeGraph(`
name: gated
repo: ${repo}
gateway:
  upstreams: { anthropic: "http://fake-anthropic:9000" }
agents:
  caller:
    harness: command
    command: node -e "$CALLER_JS"
    env: { CALLER_JS: ${JSON.stringify(CALLER)} }
    credentials: { anthropic: env:TEST_ANTHROPIC_KEY }
    allowHosts: [allowed-host]
    budget: { tokens: 1000 }
  isolated:
    harness: command
    command: node -e "fetch('http://fake-anthropic:9000/').then(() => console.log('REACHED'), () => console.log('unreachable'))"
tasks:
  - { id: call, agent: caller, timeout: 2m }
  - { id: alone, agent: isolated }
failFast: false
`);
  const report = await withRealWorker(() => runToEnd(file, { runId: 'gated-1' }));
  const byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
  const log = readFileSync(byId.call.logPath!, 'utf8');

  expect(log).toMatch(/allowed: 200 hello from allowed-host/);
  expect(log).toMatch(/blocked: 403 .*host blocked-host is not on the allowlist of task call/);
  expect(log).toMatch(/call 1: 200 /);
  expect(log).toMatch(/call 2: 200 /);
  expect(log).toMatch(/call 3: 402 .*budget exceeded for task call/);
  expect(byId.call.status).toBe('budget_exceeded');
  expect(byId.call.usage).toMatchObject({ inputTokens: 800, outputTokens: 400 });
  expect(readFileSync(byId.alone.logPath!, 'utf8')).toContain('unreachable');
  expect(byId.alone.status).toBe('succeeded');

  // the upstream got the real key on every call, never the task's token
  const seen = JSON.parse(
    execFileSync(
      'docker',
      ['exec', upstreamContainer.name, 'node', '-e', "fetch('http://127.0.0.1:9000/_seen').then(r=>r.text()).then(console.log)"],
      {
        encoding: 'utf8',
      },
    ),
  );
  expect(seen).toEqual([
    { key: SECRET, auth: null },
    { key: SECRET, auth: null },
  ]);
  // and the key is nowhere else: the agent's environment and log, Temporal's history, the run's files
  expect(log).not.toContain(SECRET);
  const history = execFileSync(
    findTemporalCli()!,
    ['workflow', 'show', '-w', 'gated-1', '--address', process.env.TEMPORAL_ADDRESS!, '-o', 'json'],
    { encoding: 'utf8' },
  );
  const childHistory = execFileSync(
    findTemporalCli()!,
    ['workflow', 'show', '-w', 'gated-1/call', '--address', process.env.TEMPORAL_ADDRESS!, '-o', 'json'],
    { encoding: 'utf8' },
  );
  expect(history + childHistory).not.toContain(SECRET);
  const grep = spawnSync('grep', ['-rl', SECRET, report.artifactsDir], { encoding: 'utf8' });
  expect({ status: grep.status, files: grep.stdout }).toEqual({ status: 1, files: '' }); // 1: no match
  recordHistories('gateway-budget', ['gated-1', 'gated-1/call']);
  expect(await containersOfRun('gated-1')).toEqual([]);
  expect((await new Docker().listNetworks()).map((n) => n.Name).sort()).toEqual(networksBefore);
  expect(repoState(repo)).toEqual(before);
}, 240_000);

const MODEL_CALLER = String.raw`
const call = () => fetch(process.env.AGENTVISOR_GATEWAY_URL + '/anthropic/v1/messages', {
  method: 'POST', headers: { 'x-api-key': process.env.AGENTVISOR_GATEWAY_TOKEN, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
}).then(async (r) => r.status + ' ' + (await r.text()).slice(0, 300));
(async () => { for (let i = 1; i <= 2; i++) console.log('call ' + i + ':', await call()); })();
`;

test('a recorded run replays with no upstream at all and gives the same result', async () => {
  const cassettes = require('node:fs').mkdtempSync(path.join(require('node:os').tmpdir(), 'agentvisor-cassettes-'));
  const graph = (repo: string, mode: string) => `
name: replayable
repo: ${repo}
gateway: { mode: ${mode}, cassettes: ${JSON.stringify(cassettes)}, upstreams: { anthropic: "http://fake-anthropic:9000" } }
agents:
  caller:
    harness: command
    command: node -e "$CALLER_JS" > calls.txt && cat calls.txt
    env: { CALLER_JS: ${JSON.stringify(MODEL_CALLER)} }
    credentials: { anthropic: env:TEST_ANTHROPIC_KEY }
tasks:
  - { id: call, agent: caller }
`;
  const recorded = await withRealWorker(() => runToEnd(writeGraph(graph(makeRepo(), 'record')), { runId: 'recorded-1' }));
  expect(recorded.status).toBe('completed');
  expect(require('node:fs').readdirSync(cassettes)).toEqual(['call.yaml']);
  expect(readFileSync(path.join(cassettes, 'call.yaml'), 'utf8')).not.toContain(SECRET);

  await runtime.stop(upstreamContainer.name, 1); // no upstream from here on
  try {
    const replayed = await withRealWorker(() => runToEnd(writeGraph(graph(makeRepo(), 'replay')), { runId: 'replayed-1' }));
    expect(replayed.status).toBe('completed');
    const calls = (r: typeof recorded) => readFileSync(r.tasks[0].logPath!, 'utf8');
    expect(calls(replayed)).toBe(calls(recorded));
    expect(calls(replayed)).toMatch(/call 2: 200 /);
    expect(replayed.tasks[0].usage).toEqual(recorded.tasks[0].usage);
    expect(replayed.tasks[0].usage).toMatchObject({ inputTokens: 800, outputTokens: 400 });
    expect(replayed.tasks[0].filesChanged).toBe(recorded.tasks[0].filesChanged);
  } finally {
    await new Docker()
      .getContainer(upstreamContainer.name)
      .start()
      .catch(() => undefined);
  }
}, 240_000);

test('the run budget: once spent, the task is stopped and no new task starts', async () => {
  const repo = makeRepo();
  const file = writeGraph(`
name: run-budget
repo: ${repo}
budget: { tokens: 1000 }
gateway: { upstreams: { anthropic: "http://fake-anthropic:9000" } }
agents:
  caller:
    harness: command
    command: node -e "$CALLER_JS"; sleep 30
    env: { CALLER_JS: ${JSON.stringify(MODEL_CALLER)} }
    credentials: { anthropic: env:TEST_ANTHROPIC_KEY }
tasks:
  - { id: spender, agent: caller }
  - { id: later, agent: caller, after: [spender] }
failFast: false
`);
  const report = await withRealWorker(() => runToEnd(file, { runId: 'run-budget-1' }));
  const byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
  expect(report.status).toBe('failed');
  expect(byId.spender.status).toBe('budget_exceeded');
  expect(byId.spender.error).toBe("the run's budget is spent");
  expect(byId.spender.usage).toMatchObject({ inputTokens: 800, outputTokens: 400 });
  expect(byId.later.status).toBe('skipped');
  expect(await containersOfRun('run-budget-1')).toEqual([]);
}, 240_000);
