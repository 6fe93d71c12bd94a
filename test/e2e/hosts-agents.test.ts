// Model-backed agents on several hosts, each host with a gateway of its own. Two `agentvisor worker
// --host` processes stand in for two machines (own data folder, own network namespace: see
// test/support/hosts.ts), sharing this machine's Docker engine. The real CLIs run from
// agentvisor/agents:latest, their model traffic replayed by each host's gateway from the hand-written
// cassettes of test/fixtures/cassettes/agents.
// - Claude Code on host-a, Codex and OpenCode on host-b: each host started its own gateway (its
//   configuration is in that host's data folder), each file lands on its task branch in the remote,
//   usage per task is the cassettes', every gateway is gone at the end, and the credential values
//   each host holds appear in no history, log or run file.
// - The run's budget across hosts: Claude Code's calls on host-a cross it; the agent on host-b,
//   whose own gateway metered nothing, is stopped for the run's budget (or, if it had not started
//   yet, never starts).
// - The run's budget held exactly across hosts: host-b's agent calls its gateway in a tight loop
//   while host-a's one call crosses the budget. From the run's history: once the run recorded the
//   crossing, no call was granted, and the total passed the budget only by host-b's one call that
//   may have been in flight then.
// - Near the budget, every call host-b's gateway serves is one the run granted, until its record
//   crosses the budget.
// - A task added to such a run (`agentvisor add`) whose agent needs the gateway runs on its host:
//   that host's gateway, started from the run's first tasks, learns it before the agent starts, and
//   its calls are replayed and metered there; one whose agent needs none is added and runs too.
// - Live traffic to a stand-in provider (test/support/fake-upstream.js, on an egress network of
//   the test's own): each host's gateway puts that host's own key on its agents' calls; no key is
//   in an agent's environment or log, a history, a worker's log or a run file.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { loadConfig } from '../../client/config';
import { getRunReport, startRun, waitForRun, type RunReport } from '../../client/api';
import { ensureAgentsImage } from '../../images/build';
import { containersOfRun, makeRepo, writeGraph } from '../support/repo';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream-container';
import { startHosts, type Hosts } from '../support/hosts';
import { testClient } from '../support/temporal';
import { recordHistories } from '../support/record-history';
import { expectStoppedByRunBudget } from '../support/run-result';
import { cli } from '../support/cli';
import { until } from '../support/wait';
import type { HostAdmission, HostAdmissionRequest, RunSpend } from '../../workflows/messages';

jest.setTimeout(900_000);

const git = (dir: string, ...args: string[]) => execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd: dir, encoding: 'utf8' });
const CASSETTES = path.join(__dirname, '..', 'fixtures', 'cassettes', 'agents');
const KEY = 'AGENTVISOR_TEST_HOST_KEY';
// each host holds its own value of the credential the graph names by reference
const SECRETS = { 'host-a': `sk-host-a-${process.pid}-never-leaves`, 'host-b': `sk-host-b-${process.pid}-never-leaves` };

let hosts: Hosts;
let upstream: FakeUpstream;
let origin: string;
let client: Client;
const cfg = loadConfig();

beforeAll(async () => {
  await ensureAgentsImage(new Docker());
  // before the hosts' workers start: they take its network for their gateways' egress
  upstream = await startFakeUpstream(['fake-anthropic']);
  const seed = makeRepo();
  origin = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentvisor-origin-')), 'origin.git');
  git(os.tmpdir(), 'clone', '--quiet', '--bare', seed, origin);
  hosts = await startHosts(
    [
      { name: 'host-a', env: { [KEY]: SECRETS['host-a'] } },
      { name: 'host-b', env: { [KEY]: SECRETS['host-b'] } },
    ],
    origin,
    { engineReach: true },
  );
  console.log(`hosts: ${hosts.network}`);
  client = await testClient();
}, 300_000);

afterAll(async () => {
  await client?.connection.close();
  await hosts?.close();
  await upstream?.remove();
});

async function run(yaml: string, runId: string): Promise<RunReport> {
  const started = await startRun(writeGraph(yaml), { config: cfg, worker: 'none', runId });
  await started.client.connection.close();
  return waitForRun(client, runId, cfg);
}

const AGENTS = `
  claude:   { harness: claude-code, model: claude-sonnet-4-5, credentials: { anthropic: env:${KEY} } }
  codex:    { harness: codex, model: gpt-5-codex, credentials: { openai: env:${KEY} } }
  opencode: { harness: opencode, model: openai/gpt-5-mini, credentials: { openai: env:${KEY} } }
  waiter:   { harness: command, command: "sleep 600", credentials: { openai: env:${KEY} } }`;

/** Every file under a folder, as text. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f, 'latin1'));
}

test('Claude Code on host-a, Codex and OpenCode on host-b, each through its host’s gateway', async () => {
  const runId = `hostagents-${process.pid}`;
  const report = await run(
    `
name: hosts-agents
remote: ${hosts.remote}
gateway: { mode: replay, cassettes: ${CASSETTES} }
agents:${AGENTS}
tasks:
  - { id: claude, agent: claude, prompt: "Create claude.txt", runsOn: host-a, timeout: 5m }
  - { id: codex, agent: codex, prompt: "Create codex.txt", runsOn: host-b, timeout: 5m }
  - { id: opencode, agent: opencode, prompt: "Create opencode.txt", runsOn: host-b, timeout: 5m }
`,
    runId,
  );
  console.log(report.tasks.map((t) => `${t.id}@${t.host}: ${t.status} ${t.error ?? ''} ${JSON.stringify(t.usage ?? {})}`).join('\n'));
  expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
  expect(report.tasks.map((t) => [t.id, t.host])).toEqual([
    ['claude', 'host-a'],
    ['codex', 'host-b'],
    ['opencode', 'host-b'],
  ]);
  // each file on its task branch in the remote
  for (const t of ['claude', 'codex', 'opencode'])
    expect(git(origin, 'show', `agentvisor-tasks/${runId}/${t}:${t}.txt`)).toBe(`hello from ${t}\n`);
  // usage per task: the cassettes' (see each file's header), metered by the gateway of its host
  const usage = Object.fromEntries(report.tasks.map((t) => [t.id, t.usage]));
  expect(usage.claude).toMatchObject({ inputTokens: 1750, outputTokens: 97, cachedTokens: 7400 });
  expect(usage.codex).toMatchObject({ inputTokens: 1328, outputTokens: 82, cachedTokens: 3072 });
  expect(usage.opencode).toMatchObject({ inputTokens: 1906, outputTokens: 159, cachedTokens: 8704 });
  expect(usage.claude!.costUsd).toBeCloseTo(0.009225, 9);
  expect(usage.codex!.costUsd).toBeCloseTo(0.002864, 9);
  expect(usage.opencode!.costUsd).toBeCloseTo(0.0008916, 9);
  // a gateway per host, started by that host's worker (its configuration in its own data folder)
  for (const h of ['host-a', 'host-b'])
    expect([h, existsSync(path.join(hosts.hosts[h].dataDir, 'runs', runId, 'gateway', 'gateway.json'))]).toEqual([h, true]);
  // and all of them stopped: nothing of the run is left on the engine
  expect(await containersOfRun(runId)).toEqual([]);
  const networks = await new Docker().listNetworks({ filters: { label: [`org.agentvisor.run=${runId}`] } });
  expect(networks.map((n) => n.Name)).toEqual([]);

  // the credential values stay on their hosts: in no history, worker log or run file
  const histories = await Promise.all(
    [runId, ...report.tasks.map((t) => `${runId}/${t.id}`)].map(async (id) =>
      JSON.stringify(await client.workflow.getHandle(id).fetchHistory()),
    ),
  );
  const texts = [
    ...histories,
    ...Object.values(hosts.hosts).map((h) => h.worker!.output()),
    ...Object.values(hosts.hosts).flatMap((h) => filesUnder(path.join(h.dataDir, 'runs', runId))),
  ];
  for (const secret of Object.values(SECRETS)) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  recordHistories('hosts-agents', [runId, `${runId}/claude`]);
});

test('the run’s budget holds across hosts: spent on host-a, it stops the agent on host-b', async () => {
  const runId = `hostbudget-${process.pid}`;
  // Claude Code's first call (claude.yaml: $0.007275) crosses $0.005: its second is refused
  const report = await run(
    `
name: hosts-budget
remote: ${hosts.remote}
budget: { usd: 0.005 }
failFast: false
gateway: { mode: replay, cassettes: ${CASSETTES} }
agents:${AGENTS}
tasks:
  - { id: claude, agent: claude, prompt: "Create claude.txt", runsOn: host-a, timeout: 5m }
  - { id: waiting, agent: waiter, runsOn: host-b, timeout: 4m }
`,
    runId,
  );
  console.log(report.tasks.map((t) => `${t.id}@${t.host}: ${t.status} ${t.error ?? ''} ${JSON.stringify(t.usage ?? {})}`).join('\n'));
  // host-b's gateway metered nothing: what stopped its agent is host-a's spend, through the run
  expectStoppedByRunBudget(report, 'host-b');
  expect(await containersOfRun(runId)).toEqual([]);
  recordHistories('hosts-budget', [runId]);
});

// calls the gateway (the usage it asks of the stand-in provider) until it is refused, or CALLS times
const LOOPER = String.raw`
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
const call = () => fetch(process.env.AGENTVISOR_GATEWAY_URL + '/anthropic/v1/messages', {
  method: 'POST', headers: { 'x-api-key': process.env.AGENTVISOR_GATEWAY_TOKEN, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], fake_usage: JSON.parse(process.env.USAGE) }),
}).then(async (r) => [r.status, (await r.text()).slice(0, 300)]);
(async () => {
  await pause(Number(process.env.DELAY_MS));
  let n = 0, answer = [200, ''];
  while (answer[0] === 200 && n < Number(process.env.CALLS)) {
    answer = await call();
    n++;
    await pause(Number(process.env.PAUSE_MS));
  }
  console.log('calls: ' + n + ', last: ' + answer.join(' '));
})();
`;

/** The run's budget Updates, in the order it answered them: what each asked and what the run recorded. */
async function budgetRecords(runId: string) {
  const history = await client.workflow.getHandle(runId).fetchHistory();
  const decode = (p: Payload[] | null | undefined) => (p?.[0] ? defaultPayloadConverter.fromPayload<unknown>(p[0]) : undefined);
  const asked = new Map<string, { name: string; arg: HostAdmissionRequest }>();
  const records: { name: string; arg: HostAdmissionRequest; result: HostAdmission | RunSpend }[] = [];
  for (const e of history.events ?? []) {
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
    if (accepted?.input?.name && accepted.meta?.updateId)
      asked.set(accepted.meta.updateId, {
        name: accepted.input.name,
        arg: decode(accepted.input.args?.payloads as Payload[]) as HostAdmissionRequest,
      });
    const completed = e.workflowExecutionUpdateCompletedEventAttributes;
    const request = completed?.meta?.updateId ? asked.get(completed.meta.updateId) : undefined;
    if (completed && request && ['recordHostSpend', 'admitHostCalls'].includes(request.name))
      records.push({ ...request, result: decode(completed.outcome?.success?.payloads as Payload[]) as HostAdmission | RunSpend });
  }
  return records;
}

test('the run’s budget is exact across hosts: once the run recorded the crossing, no call is granted', async () => {
  const runId = `hostexact-${process.pid}`;
  // host-a: one call of 20400 tokens, after 10 s (host-b is calling by then): it crosses 20000.
  // host-b: calls of 20 tokens, one at a time, every 20 ms: far from the budget on its own
  const looper = (env: Record<string, string | number>) =>
    `{ harness: command, command: 'node -e "$LOOPER_JS"', env: ${JSON.stringify({ ...env, LOOPER_JS: LOOPER })}, credentials: { anthropic: env:${KEY} } }`;
  const report = await run(
    `
name: hosts-exact-budget
remote: ${hosts.remote}
budget: { tokens: 20000 }
failFast: false
gateway: { upstreams: { anthropic: "http://fake-anthropic:9000" } }
agents:
  big: ${looper({ DELAY_MS: '10000', CALLS: '1', PAUSE_MS: '0', USAGE: JSON.stringify({ input_tokens: 400, output_tokens: 20000 }) })}
  small: ${looper({ DELAY_MS: '0', CALLS: '1500', PAUSE_MS: '20', USAGE: JSON.stringify({ input_tokens: 10, output_tokens: 10 }) })}
tasks:
  - { id: big, agent: big, runsOn: host-a, timeout: 4m }
  - { id: small, agent: small, runsOn: host-b, timeout: 4m }
`,
    runId,
  );
  const logs = ['big', 'small'].map((t, i) =>
    readFileSync(path.join(hosts.hosts[['host-a', 'host-b'][i]].dataDir, 'runs', runId, 'logs', `${t}.log`), 'utf8').trim(),
  );
  console.log(report.tasks.map((t) => `${t.id}@${t.host}: ${t.status} ${t.error ?? ''} ${JSON.stringify(t.usage ?? {})}`).join('\n'));
  console.log(logs.join('\n'));
  expect(report.status).toBe('failed');
  const tokensOf = (id: string) => {
    const u = report.tasks.find((t) => t.id === id)!.usage!;
    return u.inputTokens + u.outputTokens;
  };
  const [big, small] = [tokensOf('big'), tokensOf('small')];
  expect(big).toBe(20400);
  // both stopped for the run's budget (by their gateway's refusal, or by their worker's look first)
  expect(report.tasks.map((t) => [t.id, t.status, t.error])).toEqual([
    ['big', 'budget_exceeded', "the run's budget is spent"],
    ['small', 'budget_exceeded', "the run's budget is spent"],
  ]);

  const records = await budgetRecords(runId);
  const totalOf = (r: (typeof records)[number]): RunSpend => ('run' in r.result ? r.result.run : r.result);
  const crossing = records.findIndex((r) => totalOf(r).budgetSpent);
  expect(crossing).toBeGreaterThanOrEqual(0);
  const reached = totalOf(records[crossing]);
  console.log(`reached at ${JSON.stringify(reached)}; in all ${big + small} tokens; ${records.length} budget Updates`);
  // no call granted once the crossing was recorded
  const grantedAfter = records
    .slice(crossing)
    .filter((r) => r.name === 'admitHostCalls' && r.arg.calls > 0 && (r.result as HostAdmission).granted);
  expect(grantedAfter).toEqual([]);
  // the total passes what the run had when it reached the budget by host-b's one call in flight at most
  expect(big + small - reached.totalTokens).toBeLessThanOrEqual(20);
  // the test shows something only if host-b was calling when host-a's call crossed the budget
  expect(reached.byHost['host-b']?.totalTokens ?? 0).toBeGreaterThan(0);
  // the run's record at the crossing holds every completed call (host-a's too, and host-b's
  // calls so far, which its gateway gave the run as it was told the run's total)
  expect(reached.byHost['host-a']).toMatchObject({ totalTokens: 20400 });
  expect(await containersOfRun(runId)).toEqual([]);
  // the admissions carry spend only: no key is in the run's history
  const history = JSON.stringify(await client.workflow.getHandle(runId).fetchHistory());
  for (const secret of Object.values(SECRETS)) expect(history.includes(secret)).toBe(false);
  recordHistories('hosts-exact-budget', [runId]);
});

test('near the run’s budget, every call on a host is one the run granted, until the run’s record crosses it', async () => {
  const runId = `hostgrants-${process.pid}`;
  // host-a's one call of 16000 tokens brings the run to 80% of 20000 (its task's end reports it at
  // the latest); host-b's task starts after it and calls, 200 tokens a call, each granted by the run
  const looper = (env: Record<string, string | number>) =>
    `{ harness: command, command: 'node -e "$LOOPER_JS"', env: ${JSON.stringify({ ...env, LOOPER_JS: LOOPER })}, credentials: { anthropic: env:${KEY} } }`;
  const report = await run(
    `
name: hosts-grants
remote: ${hosts.remote}
budget: { tokens: 20000 }
failFast: false
gateway: { upstreams: { anthropic: "http://fake-anthropic:9000" } }
agents:
  big: ${looper({ DELAY_MS: '0', CALLS: '1', PAUSE_MS: '0', USAGE: JSON.stringify({ input_tokens: 400, output_tokens: 15600 }) })}
  small: ${looper({ DELAY_MS: '0', CALLS: '100', PAUSE_MS: '0', USAGE: JSON.stringify({ input_tokens: 100, output_tokens: 100 }) })}
tasks:
  - { id: big, agent: big, runsOn: host-a, timeout: 4m }
  - { id: small, agent: small, runsOn: host-b, after: [big], timeout: 4m }
`,
    runId,
  );
  console.log(report.tasks.map((t) => `${t.id}@${t.host}: ${t.status} ${t.error ?? ''} ${JSON.stringify(t.usage ?? {})}`).join('\n'));
  const tokensOf = (id: string) => {
    const u = report.tasks.find((t) => t.id === id)!.usage!;
    return u.inputTokens + u.outputTokens;
  };
  const [big, small] = [tokensOf('big'), tokensOf('small')];
  expect(big).toBe(16000);
  const records = await budgetRecords(runId);
  const totalOf = (r: (typeof records)[number]): RunSpend => ('run' in r.result ? r.result.run : r.result);
  const asks = records.filter((r) => r.name === 'admitHostCalls' && r.arg.host === 'host-b' && r.arg.calls > 0);
  const granted = asks.filter((r) => (r.result as HostAdmission).granted).reduce((n, r) => n + r.arg.calls, 0);
  console.log(`host-b: ${small / 200} calls served, ${granted} granted by the run in ${asks.length} asks`);
  // every call host-b's gateway served was granted by the run, and there were some
  expect(granted).toBeGreaterThan(0);
  expect(small / 200).toBe(granted);
  const crossing = records.findIndex((r) => totalOf(r).budgetSpent);
  expect(crossing).toBeGreaterThanOrEqual(0);
  const grantedAfter = records
    .slice(crossing)
    .filter((r) => r.name === 'admitHostCalls' && r.arg.calls > 0 && (r.result as HostAdmission).granted);
  expect(grantedAfter).toEqual([]);
  // one call of host-b in flight at most when the run's record crossed the budget
  expect(big + small - totalOf(records[crossing]).totalTokens).toBeLessThanOrEqual(200);
  // host-a's agent ended before the crossing; host-b's was stopped by it
  expect(report.tasks.map((t) => [t.id, t.status])).toEqual([
    ['big', 'succeeded'],
    ['small', 'budget_exceeded'],
  ]);
  expect(await containersOfRun(runId)).toEqual([]);
});

test('a task added to a run with host gateways runs on its host, through that host’s gateway', async () => {
  const runId = `hostadd-${process.pid}`;
  const started = await startRun(
    writeGraph(`
name: hosts-add
remote: ${hosts.remote}
gateway: { mode: replay, cassettes: ${CASSETTES} }
agents:${AGENTS}
  short:    { harness: command, command: "sleep 20", credentials: { openai: env:${KEY} } }
  plain:    { harness: command, command: "echo plain > plain.txt" }
tasks:
  - { id: short, agent: short, runsOn: host-a, timeout: 4m }
`),
    { config: cfg, worker: 'none', runId },
  );
  await started.client.connection.close();
  await until('the first task running', async () => (await getRunReport(client, runId)).tasks[0].status === 'running', 120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-hostadd-'));
  // task id claude: its calls are replayed from claude.yaml
  const modelTask = path.join(dir, 'model.yaml');
  writeFileSync(modelTask, '- { id: claude, agent: claude, prompt: "Create claude.txt", runsOn: host-b }\n');
  const added = await cli('add', runId, modelTask);
  expect({ code: added.code, stdout: added.stdout, stderr: added.stderr }).toEqual({
    code: 0,
    stdout: `added claude to ${runId}\n`,
    stderr: '',
  });
  const plainTask = path.join(dir, 'plain.yaml');
  writeFileSync(plainTask, '- { id: plain, agent: plain, runsOn: host-b }\n');
  const addedPlain = await cli('add', runId, plainTask);
  expect({ code: addedPlain.code, stdout: addedPlain.stdout }).toEqual({ code: 0, stdout: `added plain to ${runId}\n` });
  const report = await waitForRun(client, runId, cfg);
  const byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
  expect({ status: report.status, error: report.error, claude: byId.claude?.error }).toEqual({
    status: 'completed',
    error: undefined,
    claude: undefined,
  });
  expect(report.tasks.map((t) => [t.id, t.status, t.host, t.addedBy])).toEqual([
    ['short', 'succeeded', 'host-a', undefined],
    ['claude', 'succeeded', 'host-b', 'agentvisor add'],
    ['plain', 'succeeded', 'host-b', 'agentvisor add'],
  ]);
  // metered by host-b's gateway: claude.yaml's two calls
  expect(byId.claude.usage).toMatchObject({ inputTokens: 1750, outputTokens: 97, cachedTokens: 7400 });
  expect(byId.claude.usage!.costUsd).toBeCloseTo(0.009225, 9);
  expect(git(origin, 'show', `agentvisor-tasks/${runId}/claude:claude.txt`)).toBe('hello from claude\n');
  expect(git(origin, 'show', `agentvisor-tasks/${runId}/plain:plain.txt`)).toBe('plain\n');
  expect(await containersOfRun(runId)).toEqual([]);
});

/** The keys the stand-in provider has seen, in order, for every call since it started. */
function seenByUpstream(): { key: string }[] {
  const script = "fetch('http://127.0.0.1:9000/_seen').then(r=>r.text()).then(console.log)";
  return JSON.parse(execFileSync('docker', ['exec', upstream.name, 'node', '-e', script], { encoding: 'utf8' })) as { key: string }[];
}

const CALLER = String.raw`
const call = () => fetch(process.env.AGENTVISOR_GATEWAY_URL + '/anthropic/v1/messages', {
  method: 'POST', headers: { 'x-api-key': process.env.AGENTVISOR_GATEWAY_TOKEN, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
}).then(async (r) => r.status + ' ' + (await r.text()).slice(0, 200));
(async () => {
  for (let i = 1; i <= Number(process.env.CALLS); i++) console.log('call ' + i + ':', await call());
  console.log('env:', JSON.stringify(process.env));
})();
`;

test('live calls: each host’s gateway sends that host’s own key, which is nowhere else', async () => {
  const runId = `hostkeys-${process.pid}`;
  const caller = (calls: number) =>
    `{ harness: command, command: 'node -e "$CALLER_JS"', env: { CALLS: "${calls}", CALLER_JS: ${JSON.stringify(CALLER)} }, credentials: { anthropic: env:${KEY} } }`;
  const seenBefore = seenByUpstream().length;
  const report = await run(
    `
name: hosts-keys
remote: ${hosts.remote}
gateway: { upstreams: { anthropic: "http://fake-anthropic:9000" } }
agents:
  once: ${caller(1)}
  twice: ${caller(2)}
tasks:
  - { id: on-a, agent: once, runsOn: host-a }
  - { id: on-b, agent: twice, runsOn: host-b }
`,
    runId,
  );
  expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
  // the stand-in provider's record of the keys: one call with host-a's, two with host-b's (after
  // the calls of the file's earlier tests)
  const seen = seenByUpstream().slice(seenBefore);
  expect(seen.map((s) => s.key).sort()).toEqual([SECRETS['host-a'], SECRETS['host-b'], SECRETS['host-b']].sort());
  // the gateway metered each host's calls (400 in, 200 out each)
  expect(report.tasks.map((t) => [t.id, t.host, t.usage?.inputTokens, t.usage?.outputTokens])).toEqual([
    ['on-a', 'host-a', 400, 200],
    ['on-b', 'host-b', 800, 400],
  ]);
  // the agents' logs hold their calls' answers and their environment, without a key
  const logs = Object.entries({ 'on-a': 'host-a', 'on-b': 'host-b' }).map(([task, host]) =>
    readFileSync(path.join(hosts.hosts[host].dataDir, 'runs', runId, 'logs', `${task}.log`), 'utf8'),
  );
  for (const log of logs) expect(log).toMatch(/call 1: 200 .*env: \{/s);
  const histories = await Promise.all(
    [runId, `${runId}/on-a`, `${runId}/on-b`].map(async (id) => JSON.stringify(await client.workflow.getHandle(id).fetchHistory())),
  );
  const texts = [
    ...logs,
    ...histories,
    ...Object.values(hosts.hosts).map((h) => h.worker!.output()),
    ...Object.values(hosts.hosts).flatMap((h) => filesUnder(path.join(h.dataDir, 'runs', runId))),
  ];
  for (const secret of Object.values(SECRETS)) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  expect(await containersOfRun(runId)).toEqual([]);
});
