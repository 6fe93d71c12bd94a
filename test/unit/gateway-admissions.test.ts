// Admission by the run near its budget (gateway/admissions.ts), without a server or an engine: the
// pending calls' state, and a real gateway in this process with a stand-in upstream, whose control
// route the test answers as the worker's relay would.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Admissions } from '../../gateway/admissions';
import { resolveGatewayConfig } from '../../gateway/config';
import { Ledger } from '../../gateway/ledger';
import { DEFAULT_PRICES } from '../../gateway/prices';
import { createGateway, type Gateway } from '../../gateway/server';
import { NEAR_BUDGET, budgetCrossed, budgetShare, elsewhereOf } from '../../contract/run-budget';

describe('the pending calls', () => {
  it('waits for the answer; a look sees what is pending, at once if something changed', async () => {
    const a = new Admissions(60_000);
    const idle = await a.look(0, 10); // nothing changed: the look waits, then answers empty
    expect(idle).toEqual({ changes: 0, pending: [] });
    const first = a.ask('t1');
    const second = a.ask('t2');
    const look = await a.look(0, 60_000);
    expect(look).toEqual({
      changes: 2,
      pending: [
        { id: 1, taskId: 't1' },
        { id: 2, taskId: 't2' },
      ],
    });
    // a look that has seen everything waits for the next change
    const next = a.look(look.changes, 60_000);
    a.changed();
    expect((await next).changes).toBe(3);
    a.answer([1], [2]);
    await expect(first).resolves.toBe('granted');
    await expect(second).resolves.toBe('refused');
    expect((await a.look(0, 0)).pending).toEqual([]);
  });

  it('refuses a call the run does not answer in time; a late answer is ignored', async () => {
    const a = new Admissions(20);
    const call = a.ask('t');
    await expect(call).resolves.toBe('timeout');
    a.answer([1], []); // no longer pending: nothing happens
    expect((await a.look(0, 0)).pending).toEqual([]);
  });
});

describe('the run’s budget, as the run and the workers judge it', () => {
  it('shares, crossings and what the other hosts spent', () => {
    expect(budgetShare({ usd: 0.04, totalTokens: 10 }, { usd: 0.05 })).toBeCloseTo(0.8, 9);
    expect(budgetShare({ usd: 1, totalTokens: 900 }, { usd: 10, tokens: 1000 })).toBeCloseTo(0.9, 9);
    expect(budgetShare({ usd: 1, totalTokens: 1 }, undefined)).toBe(0);
    expect(budgetCrossed({ usd: 0.05, totalTokens: 0 }, { usd: 0.05 })).toBe(false);
    expect(budgetCrossed({ usd: 0.0501, totalTokens: 0 }, { usd: 0.05 })).toBe(true);
    const run = { usd: 3, totalTokens: 30, byHost: { a: { usd: 1, totalTokens: 10 }, b: { usd: 2, totalTokens: 20 } } };
    expect(elsewhereOf(run, 'a')).toEqual({ usd: 2, totalTokens: 20 });
    expect(elsewhereOf(run, 'c')).toEqual({ usd: 3, totalTokens: 30 });
  });

  it('the ledger’s share counts what was spent elsewhere', () => {
    const l = new Ledger(DEFAULT_PRICES, new Map([['t', undefined]]), { tokens: 1000 });
    l.record('t', { inputTokens: 500, outputTokens: 0, cachedTokens: 0, cacheWriteTokens: 0 }, 'claude-sonnet-4-5');
    expect(l.runShare()).toBeCloseTo(0.5, 9);
    l.setElsewhere({ usd: 0, totalTokens: 300 });
    expect(l.runShare()).toBeGreaterThanOrEqual(NEAR_BUDGET);
  });
});

describe('a host’s gateway near the run’s budget', () => {
  const TOKEN = 'task-token-admissions-0123456789';
  const CONTROL = 'control-token-admissions-0123456789';
  let upstream: http.Server;
  let gateway: Gateway;
  let base: string;
  let calls = 0;
  const log: string[] = [];

  beforeAll(async () => {
    // 400 in, 200 out: 600 tokens a call
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls++;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ model: 'claude-sonnet-4-5', usage: { input_tokens: 400, output_tokens: 200 } }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const cfg = resolveGatewayConfig(
      {
        listen: { host: '127.0.0.1', port: 0 },
        controlToken: CONTROL,
        providers: { anthropic: { kind: 'anthropic', upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` } },
        tasks: { [TOKEN]: { taskId: 't', credentials: { anthropic: 'ADMISSIONS_KEY' } } },
        runBudget: { tokens: 3000 },
        runAdmission: { from: NEAR_BUDGET, waitMs: 60_000 },
      },
      { env: { ADMISSIONS_KEY: 'sk-admissions' } },
    );
    gateway = createGateway(cfg, { log: (l) => log.push(l) });
    base = `http://127.0.0.1:${(await gateway.listen()).port}`;
  });
  afterAll(async () => {
    await gateway.close();
    await new Promise((r) => upstream.close(r));
  });

  const call = () =>
    fetch(`${base}/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', messages: [] }),
    }).then(async (r) => ({ status: r.status, body: await r.text() }));
  const control = (method: string, path: string, body?: unknown, token = CONTROL) =>
    fetch(`${base}/_agentvisor/${path}`, {
      method,
      headers: { 'x-agentvisor-control-token': token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

  it('needs the control token, and says what it expects', async () => {
    expect((await control('GET', 'admissions?seen=0&waitMs=0', undefined, 'wrong-token-0123456789')).status).toBe(401);
    const bad = await control('POST', 'admissions', { granted: 'all' });
    expect([bad.status, JSON.stringify(bad.body)]).toEqual([400, expect.stringMatching(/granted and refused must be lists of call ids/)]);
  });

  it('admits on its own far from the budget; near it, each call waits for the run’s grant or refusal', async () => {
    // 600 of 3000 tokens: far from it, no call waits
    expect((await call()).status).toBe(200);
    let look = await control('GET', 'admissions?seen=-1');
    expect(look.body).toMatchObject({ asking: false, pending: [] });
    // the other hosts spent 1800: 2400 in all, 80%
    await control('POST', 'elsewhere', { usd: 0, totalTokens: 1800 });
    const before = calls;
    const waiting = call();
    look = await control('GET', `admissions?seen=${look.body.changes as number}`);
    expect(look.body).toMatchObject({ asking: true, pending: [{ id: 1, taskId: 't' }], spend: { totalTokens: 600 } });
    expect(calls).toBe(before); // not upstream before the grant
    await control('POST', 'admissions', { granted: [1], refused: [], elsewhere: { usd: 0, totalTokens: 1800 } });
    expect((await waiting).status).toBe(200);
    expect(calls).toBe(before + 1);
    // the granted call's spend: the relay's next look sees it at once
    look = await control('GET', `admissions?seen=${look.body.changes as number}`);
    expect(look.body).toMatchObject({ asking: true, pending: [], spend: { totalTokens: 1200 } });
    // refused by the run: the same answer as a spent budget, with the run's total the worker gave
    const refused = call();
    look = await control('GET', `admissions?seen=${look.body.changes as number}`);
    expect(look.body).toMatchObject({ pending: [{ id: 2, taskId: 't' }] });
    // (3000 here: not crossed; the run has recorded more of the others)
    await control('POST', 'admissions', { granted: [], refused: [2], elsewhere: { usd: 0, totalTokens: 2000 } });
    const answer = await refused;
    expect(answer.status).toBe(402);
    expect(answer.body).toMatch(/budget exceeded for the run \(tokens 3200 > limit 3000\)/);
    expect(calls).toBe(before + 1);
    expect(log.filter((l) => /granted by the run|refused: budget exceeded \(by the run\)/.test(l))).toHaveLength(2);
  });

  it('a gateway that admits its calls itself has no admissions route', async () => {
    const cfg = resolveGatewayConfig({
      listen: { host: '127.0.0.1', port: 0 },
      controlToken: CONTROL,
      providers: { anthropic: { kind: 'anthropic' } },
      tasks: {},
    });
    const g = createGateway(cfg, { log: () => undefined });
    const port = (await g.listen()).port;
    const r = await fetch(`http://127.0.0.1:${port}/_agentvisor/admissions?seen=0`, { headers: { 'x-agentvisor-control-token': CONTROL } });
    expect(r.status).toBe(404);
    await g.close();
  });
});
