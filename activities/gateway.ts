// The run's gateway: a container on a network with a route out, and on one internal network per
// agent (openTaskNetwork), the agent's only way out. Its config names credentials by reference;
// the values are read here, inside the activity, and handed to the gateway container alone, never
// to Temporal or an agent.
//
// What an agent's packets can reach (README "Isolation", "Network"): its network is internal and
// its bridge has no address on the host (Docker's inhibit_ipv4), so nothing answers its default
// route: not the host, not another network. Its only neighbour is the gateway, whose agents' port
// (GATEWAY_PORT) listens on all its addresses; the control side (GATEWAY_CONTROL_PORT) listens
// only on the address the gateway had when it started, on the egress network, where the worker
// reaches it and agents cannot. One network per agent: agents of a run do not reach each other.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { NEAR_BUDGET } from '../contract/run-budget';
import type { GatewayConfigFile } from '../gateway/config';
import { BASE_IMAGE } from '../images/constants';
import { gatewayKeyPath } from '../paths/data-folder';
import { cassettesDir, gatewayConfigDir } from '../paths/run-folder';
import {
  LABEL_ROLE,
  LABEL_RUN,
  LABEL_SCOPE,
  LABEL_TASK,
  containerName,
  type ContainerInfo,
  type ContainerRuntime,
} from '../runtimes/runtime';
import type { GatewayGraph } from '../graph/gateway-needs';
import { controlCall } from './gateway-control';
import { chownTree } from './sandbox-user';

export const GATEWAY_ALIAS = 'agentvisor-gateway';
export const GATEWAY_PORT = 8080;
/** the control side (health, usage): on the gateway's egress-network address only */
export const GATEWAY_CONTROL_PORT = 8081;
export const gatewayUrl = `http://${GATEWAY_ALIAS}:${GATEWAY_PORT}`;
/** the run's network name; it prefixes the names of its agents' networks (older runs joined it) */
export const runNetworkName = (runId: string) => `agentvisor-${runId}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
export const taskNetworkName = (runId: string, taskId: string) =>
  `${runNetworkName(runId)}-${taskId}.net`.replace(/[^a-zA-Z0-9_.-]/g, '_').slice(0, 250);
/**
 * The run's gateway container; with a remote, each host has its own (host set): two hosts on one
 * engine never share, take or stop each other's.
 */
const gatewayName = (runId: string, host?: string) => containerName(runId, host ? `_gateway.${host}` : '_gateway');
/** A hash of the configuration a gateway container was started with (no credential values in it). */
const LABEL_GATEWAY_CONFIG = 'org.agentvisor.gateway-config';
/** The host whose worker started a gateway (and its agents' networks), in a run with a remote. */
export const LABEL_HOST = 'org.agentvisor.host';

/**
 * Per-task tokens are derived from a key that never leaves the worker's data folder, so they need
 * not travel in workflow arguments (Temporal history) to reach the activities that use them.
 */
export interface GatewayTokens {
  /** an agent's token: the gateway knows the task by it */
  task(runId: string, taskId: string): string;
  /** the worker's token for the gateway's control side */
  control(runId: string): string;
}

export function gatewayTokens(dataDir: string): GatewayTokens {
  const hmac = (text: string) => createHmac('sha256', workerKey(dataDir)).update(text).digest('hex').slice(0, 40);
  return { task: (runId, taskId) => hmac(`task:${runId}/${taskId}`), control: (runId) => hmac(`control:${runId}`) };
}

function workerKey(dataDir: string): Buffer {
  const file = gatewayKeyPath(dataDir);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}

/** Reads a credential reference's value (env: from the worker's environment, file: from disk). */
export function resolveCredential(ref: string): string {
  if (ref.startsWith('env:')) {
    const value = process.env[ref.slice(4)];
    if (!value) throw new Error(`credential ${ref} is not set in the worker's environment`);
    return value;
  }
  return readFileSync(ref.slice(5), 'utf8').trim();
}

/** secret:NAME/KEY, a Secret of the worker's namespace; only a Kubernetes worker's gateway can read one. */
function secretRef(ref: string, runtimeKind: string): { secret: string; key: string } {
  if (runtimeKind !== 'kubernetes') {
    throw ApplicationFailure.nonRetryable(
      `credential ${ref} names a Kubernetes Secret, but this worker runs containers on ${runtimeKind}: ` +
        'place the agent on a host whose worker runs with --runtime kubernetes, or name the credential with env: or file:',
      'BadTaskInput',
    );
  }
  const [secret, key] = ref.slice('secret:'.length).split('/');
  return { secret, key };
}

export interface GatewayHandle {
  /** the run's network name (agents join networks of their own, taskNetworkName) */
  network: string;
  /** where the worker reaches the gateway's control side (usage) */
  controlUrl: string;
  /** the host whose gateway it is, in a run with a remote (one gateway per host) */
  host?: string;
}

export async function startGateway(opts: {
  runtime: ContainerRuntime;
  runId: string;
  graph: GatewayGraph;
  artifactsDir: string;
  scope: string;
  /** this worker's host, in a run with a remote: the gateway is that host's */
  host?: string;
  owner?: { uid: number; gid: number };
  user: string;
  bundle: string;
  tokens: GatewayTokens;
}): Promise<GatewayHandle> {
  const { runtime, runId, graph, tokens } = opts;
  const network = runNetworkName(runId);
  const labels = { [LABEL_RUN]: runId, [LABEL_SCOPE]: opts.scope, ...(opts.host ? { [LABEL_HOST]: opts.host } : {}) };

  // credential values go into the gateway container's environment under neutral names
  const credentialEnv: Record<string, string> = {};
  // secret:NAME/KEY: a Secret of the cluster, which the gateway's pod reads by reference
  const secretEnv: Record<string, { secret: string; key: string }> = {};
  const envNameOf = new Map<string, string>();
  const tasks: GatewayConfigFile['tasks'] = {};
  for (const task of graph.tasks) {
    const agent = graph.agents[task.agent];
    const credentials: Record<string, string> = {};
    for (const [provider, ref] of Object.entries(agent.credentials)) {
      if (!envNameOf.has(ref)) {
        const name = `AGENTVISOR_CREDENTIAL_${envNameOf.size + 1}`;
        envNameOf.set(ref, name);
        if (graph.gateway?.mode === 'replay') {
          // replay calls no provider: no credential is read
        } else if (ref.startsWith('secret:')) {
          secretEnv[name] = secretRef(ref, runtime.kind);
        } else {
          credentialEnv[name] = resolveCredential(ref);
        }
      }
      credentials[provider] = `env:${envNameOf.get(ref)}`;
    }
    tasks[tokens.task(runId, task.id)] = { taskId: task.id, credentials, allowHosts: agent.allowHosts, budget: agent.budget };
  }
  const providers: GatewayConfigFile['providers'] = {};
  for (const kind of ['anthropic', 'openai', 'gemini'] as const) {
    providers[kind] = { kind, ...(graph.gateway?.upstreams[kind] ? { upstream: graph.gateway.upstreams[kind] } : {}) };
  }
  const mode = graph.gateway?.mode ?? 'live';
  const config: GatewayConfigFile = {
    listen: { host: '0.0.0.0', port: GATEWAY_PORT },
    // eth0: the egress network, the only one the container has when it starts (see below)
    control: { interface: 'eth0', port: GATEWAY_CONTROL_PORT },
    mode,
    ...(mode !== 'live' ? { cassetteDir: '/cassettes' } : {}),
    controlToken: tokens.control(runId),
    providers,
    tasks,
    ...(graph.budget ? { runBudget: graph.budget } : {}),
    // a host's gateway of a run on several hosts: near the budget, the run admits each call
    ...(graph.budget && opts.host ? { runAdmission: { from: NEAR_BUDGET, waitMs: RUN_ADMISSION_WAIT_MS } } : {}),
    prices: graph.gateway?.prices ?? {},
  };
  const dir = gatewayConfigDir(opts.artifactsDir);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'gateway.json'), JSON.stringify(config, null, 2));
  const cassettes = graph.gateway?.cassettesDir ?? cassettesDir(opts.artifactsDir);
  if (mode === 'record') await mkdir(cassettes, { recursive: true });
  if (opts.owner) await chownTree(dir, opts.owner.uid, opts.owner.gid);
  if (mode === 'record' && opts.owner) await chownTree(cassettes, opts.owner.uid, opts.owner.gid);

  const name = gatewayName(runId, opts.host);
  const egress = egressNetwork();
  // A gateway container that stopped is made again rather than started: started again, it would
  // come up on the agents' networks too, and its eth0 might be one of them. A running one is this
  // run's only if it runs this configuration (a retried start finds it so); one left by an earlier
  // run of the same id, made with another worker's key, would refuse every token of this one.
  const configHash = createHash('sha256').update(JSON.stringify(config)).digest('hex').slice(0, 16);
  const existing = await runtime.inspect(name);
  if (isForeign(existing, opts.scope)) {
    throw ApplicationFailure.nonRetryable(
      `the container ${name} belongs to a run of the same id on another Temporal server (${existing.labels[LABEL_SCOPE] ?? 'unknown'}); ` +
        'run ids must be unique on one container engine: remove it or choose another run id',
      'GatewayNameTaken',
    );
  }
  if (existing.state !== 'missing' && (existing.state !== 'running' || existing.labels[LABEL_GATEWAY_CONFIG] !== configHash)) {
    await runtime.remove(name);
  }
  await runtime.start({
    name,
    image: BASE_IMAGE,
    command: ['node', '/opt/agentvisor/gateway.bundle.js', '--config', '/etc/agentvisor/gateway.json'],
    env: credentialEnv,
    ...(Object.keys(secretEnv).length ? { secretEnv } : {}),
    workdir: '/',
    mounts: [
      { source: path.dirname(opts.bundle), target: '/opt/agentvisor', readOnly: true },
      { source: dir, target: '/etc/agentvisor', readOnly: true },
      ...(mode !== 'live' ? [{ source: cassettes, target: '/cassettes', readOnly: mode === 'replay' }] : []),
    ],
    user: opts.user,
    labels: { ...labels, [LABEL_TASK]: '_gateway', [LABEL_ROLE]: 'gateway', [LABEL_GATEWAY_CONFIG]: configHash },
    memoryBytes: 512 * 1024 ** 2,
    pids: 256,
    network: egress,
    tmpfs: ['/tmp'],
    // the agents' port only (Kubernetes: the Service, and the port its network's policy lets agents reach)
    ports: [GATEWAY_PORT],
  });
  const ip = await runtime.addressOf(name, egress);
  const controlUrl = `http://${ip}:${GATEWAY_CONTROL_PORT}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    // bounded: an address that drops packets would hold one attempt for minutes
    const ok = await fetch(`${controlUrl}/_agentvisor/health`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
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
  return { network, controlUrl, ...(opts.host ? { host: opts.host } : {}) };
}

/** The network a gateway starts on, and where the worker reaches its control side. */
const egressNetwork = () => process.env.AGENTVISOR_GATEWAY_EGRESS_NETWORK || 'bridge';

/**
 * How long a host's gateway holds a call near the run's budget for the run's grant: the relay asks
 * at once, and an Update answers in well under a second on a healthy server; a run out of reach
 * for this long is refused rather than held.
 */
export const RUN_ADMISSION_WAIT_MS = 30_000;

/** This host's running gateway of the run, where its control side is; undefined when it runs not. */
export async function runningGatewayControlUrl(runtime: ContainerRuntime, runId: string, host?: string): Promise<string | undefined> {
  const name = gatewayName(runId, host);
  if ((await runtime.inspect(name)).state !== 'running') return undefined;
  return `http://${await runtime.addressOf(name, egressNetwork())}:${GATEWAY_CONTROL_PORT}`;
}

/** The run's gateway, or (host set) this host's gateway of the run, and its agents' networks left. */
export async function stopGateway(runtime: ContainerRuntime, runId: string, scope: string, host?: string): Promise<void> {
  // the gateway of another server's run of the same id (startGateway refused to take it) is not ours to stop
  const foreign = isForeign(await runtime.inspect(gatewayName(runId, host)), scope);
  if (!foreign) await runtime.remove(gatewayName(runId, host));
  // the agents' networks that are left (an agent that did not finish), and an older run's network;
  // a host's: only those of its own agents
  const left = (await runtime.listNetworks?.({ [LABEL_RUN]: runId, [LABEL_SCOPE]: scope, ...(host ? { [LABEL_HOST]: host } : {}) })) ?? [];
  const names = new Set([...left.map((n) => n.name), ...(foreign || host ? [] : [runNetworkName(runId)])]);
  for (const name of names) await runtime.removeNetwork(name);
}

/** A container of another server's run (another scope) that happens to have this run's id. */
const isForeign = (c: ContainerInfo, scope: string) =>
  c.state !== 'missing' && c.labels[LABEL_SCOPE] !== undefined && c.labels[LABEL_SCOPE] !== scope;

/**
 * An agent's own network: internal, with the run's gateway on it under GATEWAY_ALIAS and nothing
 * else. Returns the network and the gateway's address there (the agent's hosts file names it, and
 * its DNS forwards there: nowhere). Idempotent (a retried attempt finds the network).
 */
export async function openTaskNetwork(
  runtime: ContainerRuntime,
  runId: string,
  taskId: string,
  scope: string,
  host?: string,
): Promise<{ network: string; gatewayIp: string }> {
  const network = taskNetworkName(runId, taskId);
  const labels = { [LABEL_RUN]: runId, [LABEL_TASK]: taskId, [LABEL_SCOPE]: scope, ...(host ? { [LABEL_HOST]: host } : {}) };
  await runtime.createNetwork(network, { internal: true, labels });
  await runtime.connect(network, gatewayName(runId, host), GATEWAY_ALIAS);
  return { network, gatewayIp: await runtime.addressOf(gatewayName(runId, host), network) };
}

/** Once the agent's container has exited: its network goes (the gateway is detached from it). */
export async function closeTaskNetwork(runtime: ContainerRuntime, runId: string, taskId: string): Promise<void> {
  await runtime.removeNetwork(taskNetworkName(runId, taskId));
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
export async function taskUsage(
  controlUrl: string,
  controlToken: string,
  taskId: string,
): Promise<(GatewayUsage & { runBudgetExceeded: boolean }) | undefined> {
  try {
    const r = await controlCall({ controlUrl, controlToken }, '/_agentvisor/usage');
    if (!r.ok) return undefined;
    const body = (await r.json()) as { tasks: Record<string, GatewayUsage>; run: { budgetExceeded: boolean } };
    const t = body.tasks[taskId] ?? {
      inputTokens: 0,
      outputTokens: 0,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      usd: 0,
      budgetExceeded: false,
    };
    return { ...t, runBudgetExceeded: body.run.budgetExceeded };
  } catch {
    return undefined;
  }
}
