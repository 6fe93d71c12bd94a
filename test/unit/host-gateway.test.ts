// Gateways of a run with a remote, without a server or an engine: the run's budget counted across
// hosts by each gateway's ledger, what a task carries to start its host's gateway, and credentials
// a Kubernetes worker's gateway reads from a Secret by reference (never a value in the pod spec).
import { mkdtempSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Ledger } from '../../gateway/ledger';
import { DEFAULT_PRICES } from '../../gateway/prices';
import { gatewayGraph } from '../../graph/gateway-needs';
import { credentialRef } from '../../graph/schema';
import { gatewayTokens, startGateway } from '../../activities/gateway';
import { jobFor } from '../../runtimes/kubernetes/objects';
import type { ContainerInfo, ContainerRuntime, ContainerSpec } from '../../runtimes/runtime';
import type { GraphSpec } from '../../graph/types';

const call = { inputTokens: 1000, outputTokens: 100, cachedTokens: 0, cacheWriteTokens: 0 };

describe('the run’s budget across hosts, in one gateway’s ledger', () => {
  it('counts what the other hosts spent, and refuses once the total has crossed the budget', () => {
    const l = new Ledger(DEFAULT_PRICES, new Map([['t', undefined]]), { tokens: 2000 });
    l.record('t', call, 'claude-sonnet-4-5'); // 1100 here
    expect(l.check('t')).toBeUndefined();
    l.setElsewhere({ usd: 0.01, totalTokens: 900 }); // 2000 in all: not over
    expect(l.check('t')).toBeUndefined();
    l.setElsewhere({ usd: 0.01, totalTokens: 901 });
    expect(l.check('t')).toBe('agentvisor: budget exceeded for the run (tokens 2001 > limit 2000); task t may make no more model calls');
    const r = l.report();
    // its own counters stay its own (what the worker reports to the run); the judgement counts both
    expect([r.run.totalTokens, r.run.budgetExceeded, r.elsewhere]).toEqual([1100, true, { usd: 0.01, totalTokens: 901 }]);
  });

  it('never takes back what was spent elsewhere (reports may overtake each other)', () => {
    const l = new Ledger(DEFAULT_PRICES, new Map(), { usd: 1 });
    l.setElsewhere({ usd: 0.5, totalTokens: 10 });
    l.setElsewhere({ usd: 0.2, totalTokens: 5 });
    expect(l.report().elsewhere).toEqual({ usd: 0.5, totalTokens: 10 });
  });
});

const graph: GraphSpec = {
  name: 'g',
  repo: '',
  remote: 'git://ctl/x.git',
  baseBranch: 'main',
  failFast: true,
  agents: {
    coder: {
      name: 'coder',
      harness: 'claude-code',
      credentials: { anthropic: 'secret:model-keys/anthropic' },
      env: {},
      home: [{ path: '.npmrc', content: 'registry=x' }],
      promptTemplate: 'long template',
    },
  },
  tasks: [{ id: 'impl', agent: 'coder', prompt: 'a long prompt', after: [], timeoutMs: 60_000 }],
  budget: { usd: 2 },
} as unknown as GraphSpec;

test('a task carries only what its host’s gateway is made from: no prompt, template or home file', () => {
  const g = gatewayGraph(graph);
  expect(g).toEqual({
    tasks: [{ id: 'impl', agent: 'coder' }],
    agents: { coder: { credentials: { anthropic: 'secret:model-keys/anthropic' }, allowHosts: undefined } },
    budget: { usd: 2 },
  });
  expect(JSON.stringify(g)).not.toMatch(/prompt|template|npmrc/);
});

test('credential references: env, file and a Kubernetes Secret, never a value', () => {
  for (const ok of ['env:KEY', 'file:/run/keys/a', 'secret:model-keys/anthropic', 'secret:a.b-c/API_KEY.v1'])
    expect(credentialRef.safeParse(ok).success).toBe(true);
  for (const bad of ['sk-ant-123', 'secret:Model/key', 'secret:name', 'secret:/key', 'secret:a/b/c'])
    expect(credentialRef.safeParse(bad).success).toBe(false);
});

/** A runtime that records the gateway's container and says it exited (so startGateway ends at once). */
function recordingRuntime(kind: string): ContainerRuntime & { started: ContainerSpec[] } {
  const started: ContainerSpec[] = [];
  const info = (name: string, state: ContainerInfo['state']): ContainerInfo => ({ name, state, labels: {} });
  return {
    kind,
    started,
    start: async (spec: ContainerSpec) => {
      started.push(spec);
      return info(spec.name, 'running');
    },
    inspect: async (name: string) => info(name, started.length ? 'exited' : 'missing'),
    addressOf: async () => '192.0.2.1', // TEST-NET: nothing answers
    logs: async () => undefined,
    remove: async () => undefined,
  } as unknown as ContainerRuntime & { started: ContainerSpec[] };
}

const startOn = (runtime: ContainerRuntime, host?: string) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-hostgw-'));
  return startGateway({
    runtime,
    runId: 'run-1',
    graph: gatewayGraph(graph),
    artifactsDir: dir,
    scope: 'default@test',
    user: '1000:1000',
    bundle: path.join(dir, 'gateway.bundle.js'),
    tokens: gatewayTokens(dir),
    host,
  });
};

test('a Kubernetes worker’s gateway reads a secret: credential by secretKeyRef: no value in the spec or its Secret', async () => {
  const runtime = recordingRuntime('kubernetes');
  await expect(startOn(runtime, 'cluster-1')).rejects.toThrow(/did not start/);
  const spec = runtime.started[0];
  expect(spec.name).toBe('agentvisor-run-1-_gateway.cluster-1');
  expect(spec.labels['org.agentvisor.host']).toBe('cluster-1');
  expect(spec.env).toEqual({});
  expect(spec.secretEnv).toEqual({ AGENTVISOR_CREDENTIAL_1: { secret: 'model-keys', key: 'anthropic' } });
  const { job, secret } = jobFor(spec, { namespace: 'agents' });
  const main = job.spec!.template.spec!.containers[0];
  // beside git's safe.directory entries (names and paths), the credential only by reference
  expect(main.env!.filter((e) => e.name.startsWith('AGENTVISOR_CREDENTIAL'))).toEqual([
    { name: 'AGENTVISOR_CREDENTIAL_1', valueFrom: { secretKeyRef: { name: 'model-keys', key: 'anthropic' } } },
  ]);
  expect(main.env!.filter((e) => !e.name.startsWith('GIT_CONFIG_') && !e.name.startsWith('AGENTVISOR_CREDENTIAL'))).toEqual([]);
  // the pod's own Secret (its tokens) holds nothing of it either
  expect(secret.stringData).toEqual({});
  // the gateway's configuration names the variable, not the value
  const config = JSON.parse(
    readFileSync(path.join(spec.mounts.find((m) => m.target === '/etc/agentvisor')!.source, 'gateway.json'), 'utf8'),
  );
  expect(Object.values(config.tasks as Record<string, { credentials: object }>)[0].credentials).toEqual({
    anthropic: 'env:AGENTVISOR_CREDENTIAL_1',
  });
}, 30_000);

test('a Docker worker refuses a secret: credential, saying where to run it', async () => {
  const runtime = recordingRuntime('docker');
  await expect(startOn(runtime, 'box-1')).rejects.toThrow(
    'credential secret:model-keys/anthropic names a Kubernetes Secret, but this worker runs containers on docker: place the agent on a host whose worker runs with --runtime kubernetes, or name the credential with env: or file:',
  );
  expect(runtime.started).toEqual([]);
});

test('two hosts’ gateways of one run never share a name', async () => {
  const [a, b] = [recordingRuntime('kubernetes'), recordingRuntime('kubernetes')];
  await Promise.all([startOn(a, 'host-a').catch(() => undefined), startOn(b, 'host-b').catch(() => undefined)]);
  expect(a.started[0].name).not.toBe(b.started[0].name);
}, 30_000);
