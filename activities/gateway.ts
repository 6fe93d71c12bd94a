// The run's gateway: a container on the run's internal network (agents' only way out) and on a
// network with a route out. Its config names credentials by reference; the values are read here,
// inside the activity, and handed to the gateway container alone, never to Temporal or an agent.
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { BASE_IMAGE } from '../images/constants';
import { LABEL_ROLE, LABEL_RUN, LABEL_SCOPE, LABEL_TASK, containerName, type ContainerRuntime } from '../runtimes/runtime';
import type { GraphSpec } from '../spec/types';
import { chownTree } from './git';

export const GATEWAY_ALIAS = 'agentvisor-gateway';
export const GATEWAY_PORT = 8080;
export const gatewayUrl = `http://${GATEWAY_ALIAS}:${GATEWAY_PORT}`;
export const runNetworkName = (runId: string) => `agentvisor-${runId}`.replace(/[^a-zA-Z0-9_.-]/g, '_');

/**
 * Per-task tokens are derived from a key that never leaves the worker's data folder, so they need
 * not travel in workflow arguments (Temporal history) to reach the activities that use them.
 */
function workerKey(): Buffer {
  const dir = process.env.AGENTVISOR_HOME || path.join(os.homedir(), '.agentvisor');
  const file = path.join(dir, 'gateway.key');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}

export const taskToken = (runId: string, taskId: string) => createHmac('sha256', workerKey()).update(`task:${runId}/${taskId}`).digest('hex').slice(0, 40);
export const controlToken = (runId: string) => createHmac('sha256', workerKey()).update(`control:${runId}`).digest('hex').slice(0, 40);

/** Reads a credential reference's value (env: from the worker's environment, file: from disk). */
function resolveCredential(ref: string): string {
  if (ref.startsWith('env:')) {
    const value = process.env[ref.slice(4)];
    if (!value) throw new Error(`credential ${ref} is not set in the worker's environment`);
    return value;
  }
  return readFileSync(ref.slice(5), 'utf8').trim();
}

export interface GatewayHandle {
  network: string;
  /** where the worker reaches the gateway's control side (usage) */
  controlUrl: string;
}

export async function startGateway(opts: {
  runtime: ContainerRuntime;
  runId: string;
  graph: GraphSpec;
  artifactsDir: string;
  scope: string;
  owner?: { uid: number; gid: number };
  user: string;
  bundle: string;
}): Promise<GatewayHandle> {
  const { runtime, runId, graph } = opts;
  const network = runNetworkName(runId);
  const labels = { [LABEL_RUN]: runId, [LABEL_SCOPE]: opts.scope };
  await runtime.createNetwork(network, { internal: true, labels });

  // credential values go into the gateway container's environment under neutral names
  const credentialEnv: Record<string, string> = {};
  const envNameOf = new Map<string, string>();
  const tasks: Record<string, unknown> = {};
  for (const task of graph.tasks) {
    const agent = graph.agents[task.agent];
    const credentials: Record<string, string> = {};
    for (const [provider, ref] of Object.entries(agent.credentials)) {
      if (!envNameOf.has(ref)) {
        const name = `AGENTVISOR_CREDENTIAL_${envNameOf.size + 1}`;
        envNameOf.set(ref, name);
        if (graph.gateway?.mode !== 'replay') credentialEnv[name] = resolveCredential(ref);
      }
      credentials[provider] = `env:${envNameOf.get(ref)}`;
    }
    tasks[taskToken(runId, task.id)] = { taskId: task.id, credentials, allowHosts: agent.allowHosts, budget: agent.budget };
  }
  const providers: Record<string, unknown> = {};
  for (const kind of ['anthropic', 'openai', 'gemini'] as const) {
    providers[kind] = { kind, ...(graph.gateway?.upstreams[kind] ? { upstream: graph.gateway.upstreams[kind] } : {}) };
  }
  const mode = graph.gateway?.mode ?? 'live';
  const config = {
    listen: { host: '0.0.0.0', port: GATEWAY_PORT },
    mode,
    ...(mode !== 'live' ? { cassetteDir: '/cassettes' } : {}),
    controlToken: controlToken(runId),
    providers,
    tasks,
    ...(graph.budget ? { runBudget: graph.budget } : {}),
    prices: graph.gateway?.prices ?? {},
  };
  const dir = path.join(opts.artifactsDir, 'gateway');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'gateway.json'), JSON.stringify(config, null, 2));
  const cassettes = graph.gateway?.cassettesDir ?? path.join(opts.artifactsDir, 'cassettes');
  if (mode === 'record') await mkdir(cassettes, { recursive: true });
  if (opts.owner) await chownTree(dir, opts.owner.uid, opts.owner.gid);
  if (mode === 'record' && opts.owner) await chownTree(cassettes, opts.owner.uid, opts.owner.gid);

  const name = containerName(runId, '_gateway');
  const egress = process.env.AGENTVISOR_GATEWAY_EGRESS_NETWORK || 'bridge';
  await runtime.start({
    name,
    image: BASE_IMAGE,
    command: ['node', '/opt/agentvisor/gateway.bundle.js', '--config', '/etc/agentvisor/gateway.json'],
    env: credentialEnv,
    workdir: '/',
    mounts: [
      { source: path.dirname(opts.bundle), target: '/opt/agentvisor', readOnly: true },
      { source: dir, target: '/etc/agentvisor', readOnly: true },
      ...(mode !== 'live' ? [{ source: cassettes, target: '/cassettes', readOnly: mode === 'replay' }] : []),
    ],
    user: opts.user,
    labels: { ...labels, [LABEL_TASK]: '_gateway', [LABEL_ROLE]: 'gateway' },
    memoryBytes: 512 * 1024 ** 2,
    pids: 256,
    network: egress,
    tmpfs: ['/tmp'],
    ports: [GATEWAY_PORT],
  });
  await runtime.connect(network, name, GATEWAY_ALIAS);
  const ip = await runtime.addressOf(name, egress);
  const controlUrl = `http://${ip}:${GATEWAY_PORT}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    // bounded: an address that drops packets would hold one attempt for minutes
    const ok = await fetch(`${controlUrl}/_agentvisor/health`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    if (ok) break;
    const state = await runtime.inspect(name);
    if (state.state === 'exited' || Date.now() > deadline) {
      const out = new (await import('node:stream')).PassThrough();
      let text = '';
      out.on('data', (d) => (text += d));
      await runtime.logs(name, out, { follow: false });
      throw new Error(`the gateway did not start (${state.state}): ${text.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { network, controlUrl };
}

export async function stopGateway(runtime: ContainerRuntime, runId: string): Promise<void> {
  await runtime.remove(containerName(runId, '_gateway'));
  await runtime.removeNetwork(runNetworkName(runId));
}

export interface GatewayUsage {
  /** input tokens neither read from nor written to a cache */
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /** input tokens written to a cache (Anthropic) */
  cacheWriteTokens: number;
  /** model calls answered with an error status, by status */
  errors?: Record<string, number>;
  usd: number;
  budgetExceeded: boolean;
}

/** One task's counters and whether it (or the run) is over budget; undefined if unreachable. */
export async function taskUsage(controlUrl: string, runId: string, taskId: string): Promise<(GatewayUsage & { runBudgetExceeded: boolean }) | undefined> {
  try {
    const r = await fetch(`${controlUrl}/_agentvisor/usage`, { headers: { 'x-agentvisor-control-token': controlToken(runId) } });
    if (!r.ok) return undefined;
    const body = (await r.json()) as { tasks: Record<string, GatewayUsage>; run: { budgetExceeded: boolean } };
    const t = body.tasks[taskId] ?? { inputTokens: 0, outputTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, usd: 0, budgetExceeded: false };
    return { ...t, runBudgetExceeded: body.run.budgetExceeded };
  } catch {
    return undefined;
  }
}
