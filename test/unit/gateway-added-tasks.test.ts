// Tasks added to a run while its gateway runs (gateway/added-tasks.ts, activities/gateway-tasks.ts),
// on an in-process gateway with its own control listener and a local upstream: the worker's entry
// makes a new token known (its credential goes upstream, its calls are metered); adding is
// idempotent, never changes a known task's entry or counts, and is refused without the control
// token, on the agents' port, for another task's token, an unknown provider or a credential the
// worker could not give. In replay mode the added task's cassette is loaded.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureGatewayKnowsTask } from '../../activities/gateway-tasks';
import { resolveGatewayConfig } from '../../gateway/config';
import { createGateway, type Gateway } from '../../gateway/server';

const CONTROL = 'control-token-added-tasks-0123456789';
const T1 = 'task-token-one-added-tasks-0123456789';
const T2 = 'task-token-two-added-tasks-0123456789';
const KEY1 = 'sk-added-tasks-first-credential';
const KEY2 = 'sk-added-tasks-second-credential';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const seenKeys: string[] = [];
const upstream = http.createServer((req, res) => {
  seenKeys.push(String(req.headers['x-api-key']));
  req.resume();
  req.on('end', () => {
    const answer = JSON.stringify({ type: 'message', model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 2 } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});

const log: string[] = [];
let gateway: Gateway;
let agents: string;
let control: string;

function start(mode: 'live' | 'replay', extra: Record<string, unknown> = {}): Promise<Gateway> {
  const up = (upstream.address() as net.AddressInfo).port;
  const cfg = resolveGatewayConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      control: { host: '127.0.0.1', port: 0 },
      controlToken: CONTROL,
      mode,
      providers: { anthropic: { kind: 'anthropic', upstream: `http://127.0.0.1:${up}` } },
      tasks: { [T1]: { taskId: 't1', credentials: { anthropic: 'ADDED_TASKS_KEY1' }, budget: { tokens: 1000 } } },
      ...extra,
    },
    { env: { ADDED_TASKS_KEY1: KEY1 } },
  );
  const g = createGateway(cfg, { log: (l) => log.push(l) });
  return g.listen().then(() => g);
}

beforeAll(async () => {
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  gateway = await start('live');
  agents = `http://127.0.0.1:${(gateway.server.address() as net.AddressInfo).port}`;
  control = `http://127.0.0.1:${gateway.controlAddress()!.port}`;
});

afterAll(async () => {
  await gateway.close();
  upstream.close();
});

const call = (base: string, token: string) =>
  fetch(`${base}/anthropic/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': token, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 5, messages: [] }),
  }).then(async (r) => ({ status: r.status, text: await r.text() }));

const addTask = (base: string, entry: unknown, token = CONTROL) =>
  fetch(`${base}/_agentvisor/tasks`, {
    method: 'POST',
    headers: { 'x-agentvisor-control-token': token, 'content-type': 'application/json' },
    body: JSON.stringify(entry),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as { added?: boolean; error?: { message: string } } }));

const usage = (base: string) =>
  fetch(`${base}/_agentvisor/usage`, { headers: { 'x-agentvisor-control-token': CONTROL } }).then(
    (r) => r.json() as Promise<{ tasks: Record<string, { requests: number; totalTokens: number; budget?: unknown }> }>,
  );

const entryOf = (taskId: string, token: string, more: Record<string, unknown> = {}) => ({
  tokenSha256: sha(token),
  taskId,
  credentials: { anthropic: KEY2 },
  ...more,
});

test('an added task: unknown before, then its calls carry its own credential and are metered', async () => {
  expect((await call(agents, T2)).status).toBe(401);
  expect(await addTask(control, entryOf('t2', T2, { budget: { tokens: 50 } }))).toEqual({
    status: 200,
    body: { taskId: 't2', added: true },
  });
  seenKeys.length = 0;
  expect((await call(agents, T2)).status).toBe(200);
  expect((await call(agents, T1)).status).toBe(200);
  expect(seenKeys).toEqual([KEY2, KEY1]);
  const u = await usage(control);
  expect(u.tasks.t2).toMatchObject({ requests: 1, totalTokens: 12, budget: { tokens: 50 } });
  // no credential value in the gateway's log lines
  expect(log.join('\n')).not.toContain(KEY2);
  expect(log.join('\n')).toContain('task=t2 added to the run');
});

test('a conflict’s resolver, _resolve-<task>, is taken like a task', async () => {
  expect(await addTask(control, entryOf('_resolve-t1', 'token-resolver-0123456789'))).toEqual({
    status: 200,
    body: { taskId: '_resolve-t1', added: true },
  });
  expect((await call(agents, 'token-resolver-0123456789')).status).toBe(200);
});

test('adding is idempotent and never changes a known task’s entry or counts', async () => {
  const before = await usage(control);
  // the same entry again (a retried activity), and a known task with another budget and credential
  expect(await addTask(control, entryOf('t2', T2))).toEqual({ status: 200, body: { taskId: 't2', added: false } });
  expect(await addTask(control, entryOf('t1', T1, { budget: { tokens: 1 }, credentials: { anthropic: 'sk-other' } }))).toEqual({
    status: 200,
    body: { taskId: 't1', added: false },
  });
  expect(await usage(control)).toEqual(before);
  seenKeys.length = 0;
  expect((await call(agents, T1)).status).toBe(200);
  expect(seenKeys).toEqual([KEY1]);
  // another task's token, or a known task under another token: refused, nothing changes
  const taken = await addTask(control, entryOf('t3', T1));
  expect({ status: taken.status, error: taken.body.error?.message }).toEqual({
    status: 409,
    error: "agentvisor gateway: the token is another task's (t1)",
  });
  const other = await addTask(control, entryOf('t1', 'some-other-token-0123456789'));
  expect({ status: other.status, error: other.body.error?.message }).toEqual({
    status: 409,
    error: 'agentvisor gateway: task t1 is known under another token',
  });
  expect((await call(agents, 'some-other-token-0123456789')).status).toBe(401);
});

test('refused: without the control token, on the agents’ port, bad entries; no value in the answer', async () => {
  expect((await addTask(control, entryOf('t4', 'token-four-0123456789'), 'wrong-token-0123456789')).status).toBe(401);
  expect((await addTask(agents, entryOf('t4', 'token-four-0123456789'))).status).toBe(404);
  const unknown = await addTask(control, { ...entryOf('t4', 'token-four-0123456789'), credentials: { openai: KEY2 } });
  expect({ status: unknown.status, error: unknown.body.error?.message }).toEqual({
    status: 422,
    error: 'agentvisor gateway: credentials.openai: unknown provider (providers: anthropic)',
  });
  const secret = await addTask(control, { ...entryOf('t4', 'token-four-0123456789'), credentials: { anthropic: null } });
  expect({ status: secret.status, error: secret.body.error?.message }).toEqual({
    status: 422,
    error:
      'agentvisor gateway: credentials.anthropic: the worker could not give this credential (a Kubernetes Secret, which a gateway reads only when it starts)',
  });
  const bad = await addTask(control, { taskId: 't4', tokenSha256: 'nothex', credentials: { anthropic: KEY2 } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).not.toContain(KEY2);
  expect((await usage(control)).tasks.t4).toBeUndefined();
});

test('the worker’s side: a known task is left alone (its credential not read), an unknown one handed over once', async () => {
  const agent = { credentials: { anthropic: 'env:ADDED_TASKS_WORKER_KEY' }, allowHosts: [] };
  delete process.env.ADDED_TASKS_WORKER_KEY;
  // t1 is the config's: nothing is read, so the unset variable does not matter
  expect(await ensureGatewayKnowsTask({ controlUrl: control, controlToken: CONTROL, taskId: 't1', taskToken: T1, agent })).toBe('known');
  await expect(
    ensureGatewayKnowsTask({ controlUrl: control, controlToken: CONTROL, taskId: 't5', taskToken: 'token-five-0123456789', agent }),
  ).rejects.toThrow("task t5: credential env:ADDED_TASKS_WORKER_KEY is not set in the worker's environment");
  process.env.ADDED_TASKS_WORKER_KEY = 'sk-worker-resolved-credential';
  try {
    const opts = { controlUrl: control, controlToken: CONTROL, taskId: 't5', taskToken: 'token-five-0123456789', agent };
    expect(await ensureGatewayKnowsTask(opts)).toBe('added');
    expect(await ensureGatewayKnowsTask(opts)).toBe('known');
    seenKeys.length = 0;
    expect((await call(agents, 'token-five-0123456789')).status).toBe(200);
    expect(seenKeys).toEqual(['sk-worker-resolved-credential']);
    // a Kubernetes Secret the worker does not read: the gateway's refusal, not retried
    await expect(
      ensureGatewayKnowsTask({
        ...opts,
        taskId: 't6',
        taskToken: 'token-six-0123456789',
        agent: { credentials: { anthropic: 'secret:keys/anthropic' }, allowHosts: [] },
      }),
    ).rejects.toMatchObject({ nonRetryable: true, message: expect.stringContaining("the run's gateway cannot take task t6") });
  } finally {
    delete process.env.ADDED_TASKS_WORKER_KEY;
  }
});

test('replay: the added task’s cassette is loaded when it is added, and served', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-added-cassettes-'));
  writeFileSync(
    path.join(dir, 't7.yaml'),
    'version: 1\ninteractions:\n  - request: { provider: anthropic, path: /v1/messages }\n    response: { body: { type: message, model: claude-haiku-4-5, usage: { input_tokens: 3, output_tokens: 4 } } }\n',
  );
  const g = await start('replay', { cassetteDir: dir });
  try {
    const a = `http://127.0.0.1:${(g.server.address() as net.AddressInfo).port}`;
    const c = `http://127.0.0.1:${g.controlAddress()!.port}`;
    // replay needs no credential: the worker gives none
    const r = await addTask(c, { ...entryOf('t7', 'token-seven-0123456789'), credentials: { anthropic: null } });
    expect(r.status).toBe(200);
    expect((await call(a, 'token-seven-0123456789')).status).toBe(200);
    expect((await usage(c)).tasks.t7).toMatchObject({ requests: 1, totalTokens: 7 });
  } finally {
    await g.close();
  }
});
