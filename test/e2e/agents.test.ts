// The four real agent CLIs (claude, codex, gemini, opencode) in agentvisor/agents:latest, each run
// as runAgent runs it (DockerRuntime, hardened container, worktree at /workspace, HOME files at
// /agentvisor/home) on an internal Docker network with no route out. Their only peer is
// test/support/fake-gateway.js, a scripted provider under the gateway's /anthropic, /openai and
// /gemini prefixes: first a tool call that writes hello.txt, then a final answer.
// UPDATE_HARNESS_FIXTURES=1 copies each captured log to test/fixtures/harnesses for the unit tests.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import Docker from 'dockerode';
import { AGENT_CLI_HARNESSES } from '../../harnesses';
import { HOME_FILES_MOUNT, type AgentResult, type Harness, type HarnessInput } from '../../harnesses/harness';
import { ensureAgentsImage } from '../../images/build';
import { BASE_IMAGE } from '../../images/constants';
import { DockerRuntime } from '../../runtimes/docker';
import type { ContainerSpec } from '../../runtimes/runtime';
import { DEFAULT_RETRY, type AgentSpec } from '../../spec/types';
import { makeRepo, sh } from '../support/repo';

jest.setTimeout(900_000);

const CONTENT = 'hello from agentvisor\n';
const PORT = 8080;
const suffix = randomBytes(4).toString('hex');
const NETWORK = `agentvisor-test-agents-${suffix}`;
const GATEWAY_NAME = `fake-gateway-${suffix}`;
const GATEWAY_URL = `http://${GATEWAY_NAME}:${PORT}`;

const docker = new Docker();
const runtime = new DockerRuntime(docker);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-agents-'));
const recordsDir = path.join(tmp, 'records');
const recordFile = path.join(recordsDir, 'requests.jsonl');

/** What each CLI is asked to run, and where its key shows up in the requests. */
const CASES: { harness: string; model: string; prefix: string; key: (r: Rec) => string | undefined; costed: boolean }[] = [
  { harness: 'claude-code', model: 'claude-sonnet-4-5', prefix: '/anthropic/', key: (r) => r.xApiKey, costed: true },
  { harness: 'codex', model: 'gpt-5.2-codex', prefix: '/openai/', key: (r) => r.authorization?.replace(/^Bearer /, ''), costed: false },
  { harness: 'gemini-cli', model: 'gemini-2.5-pro', prefix: '/gemini/', key: (r) => r.xGoogApiKey, costed: false },
  { harness: 'opencode', model: 'openai/gpt-5-mini', prefix: '/openai/', key: (r) => r.authorization?.replace(/^Bearer /, ''), costed: true },
];

/** The fixture files of test/unit/harnesses.test.ts. */
const FIXTURE_NAMES: Record<string, string> = {
  'claude-code': 'claude-code.stream.jsonl',
  codex: 'codex.jsonl',
  'gemini-cli': 'gemini-cli.stream.jsonl',
  opencode: 'opencode.jsonl',
};

interface Rec {
  method: string;
  url: string;
  xApiKey?: string;
  authorization?: string;
  xGoogApiKey?: string;
}

function records(): Rec[] {
  if (!existsSync(recordFile)) return [];
  return readFileSync(recordFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec);
}

beforeAll(async () => {
  await ensureAgentsImage(docker, () => undefined);
  mkdirSync(recordsDir, { recursive: true });
  chmodSync(recordsDir, 0o777);
  await docker.createNetwork({ Name: NETWORK, Internal: true, CheckDuplicate: true });
  const gw = await docker.createContainer({
    name: GATEWAY_NAME,
    Image: BASE_IMAGE,
    Cmd: ['node', '/srv/fake-gateway.js'],
    User: '1000:1000',
    Env: [`PORT=${PORT}`, 'RECORD=/records/requests.jsonl', `CONTENT=${CONTENT}`],
    HostConfig: {
      NetworkMode: NETWORK,
      ReadonlyRootfs: true,
      Binds: [`${path.join(__dirname, '..', 'support', 'fake-gateway.js')}:/srv/fake-gateway.js:ro`, `${recordsDir}:/records:rw`],
    },
  });
  await gw.start();
});

afterAll(async () => {
  await docker.getContainer(GATEWAY_NAME).remove({ force: true }).catch(() => undefined);
  await docker.getNetwork(NETWORK).remove().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
});

interface AgentRun {
  exitCode: number;
  log: string;
  result: AgentResult;
  progress: string[];
  workspace: string;
  repo: string;
  branch: string;
  seconds: number;
}

/** One task of one harness, the way runAgent runs it. */
async function runAgentLikeRunAgent(harness: Harness, model: string, token: string, timeoutMs = 180_000): Promise<AgentRun> {
  const repo = makeRepo();
  const id = `${harness.name}-${randomBytes(3).toString('hex')}`;
  const branch = `agentvisor/test/${id}`;
  const workspace = path.join(tmp, 'wt', id);
  // a real worktree: /workspace/.git is a file pointing to a path that is not mounted
  sh(repo, 'worktree', 'add', '-q', '-b', branch, workspace, 'main');
  chownRecursive(workspace, 1000, 1000);

  const agent: AgentSpec = { name: 'coder', harness: harness.name as AgentSpec['harness'], model, credentials: {}, readOnly: false, env: {}, limits: {}, allowHosts: [] } as AgentSpec;
  const input: HarnessInput = {
    graphName: 'agents-e2e',
    agent,
    task: { id: 'hello', agent: 'coder', prompt: 'Create hello.txt in the repository root.', after: [], timeoutMs, retry: DEFAULT_RETRY },
    gateway: { url: GATEWAY_URL, token },
  };
  const inv = harness.build(input);
  const homeFiles = path.join(tmp, 'home', id);
  mkdirSync(homeFiles, { recursive: true });
  for (const f of inv.files ?? []) {
    const p = path.join(homeFiles, f.path);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, f.content, { mode: 0o644 });
  }
  chmodRecursive(homeFiles);

  const spec: ContainerSpec = {
    name: `agentvisor-test-${id}`,
    image: inv.image,
    command: inv.command,
    env: inv.env,
    workdir: '/workspace',
    mounts: [
      { source: workspace, target: '/workspace', readOnly: false },
      { source: homeFiles, target: HOME_FILES_MOUNT, readOnly: true },
    ],
    user: '1000:1000',
    labels: { 'org.agentvisor.test': 'agents' },
    memoryBytes: 2 * 1024 ** 3,
    pids: 512,
    network: NETWORK,
    tmpfs: ['/home/agent', '/tmp'],
  };
  const started = Date.now();
  try {
    await runtime.start(spec);
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([
      runtime.wait(spec.name),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${harness.name} did not exit within ${timeoutMs / 1000}s`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const chunks: Buffer[] = [];
    await runtime.logs(spec.name, new Writable({ write(c, _e, cb) { chunks.push(Buffer.from(c)); cb(); } }), { follow: false });
    const log = Buffer.concat(chunks).toString('utf8');
    const progress = log.split('\n').map((l) => harness.progress?.(l)).filter((x): x is string => !!x);
    const result = harness.result!(log, exit.exitCode);
    return { exitCode: exit.exitCode, log, result, progress, workspace, repo, branch, seconds: (Date.now() - started) / 1000 };
  } finally {
    await runtime.remove(spec.name);
  }
}

function chownRecursive(dir: string, uid: number, gid: number): void {
  execFileSync('chown', ['-R', `${uid}:${gid}`, dir]);
}
function chmodRecursive(dir: string): void {
  execFileSync('chmod', ['-R', 'a+rX', dir]);
}

describe.each(CASES)('$harness, real CLI in its container', ({ harness: name, model, prefix, key, costed }) => {
  const harness = AGENT_CLI_HARNESSES[name];

  it('makes the scripted tool call, writes hello.txt, and reports success with usage', async () => {
    const token = `avt-${name}-${randomBytes(6).toString('hex')}`;
    const run = await runAgentLikeRunAgent(harness, model, token);
    if (process.env.UPDATE_HARNESS_FIXTURES) {
      const stdout = run.log.split('\n').filter((l) => l.startsWith('{')).join('\n') + '\n';
      writeFileSync(path.join(__dirname, '..', 'fixtures', 'harnesses', FIXTURE_NAMES[name]), stdout);
    }
    const context = `${name} log:\n${run.log.slice(-3000)}`;
    expect({ exitCode: run.exitCode, context }).toEqual({ exitCode: 0, context });
    expect(readFileSync(path.join(run.workspace, 'hello.txt'), 'utf8')).toBe(CONTENT);
    expect(run.result.success).toBe(true);
    expect(run.result.usage!.inputTokens).toBeGreaterThan(0);
    expect(run.result.usage!.outputTokens).toBeGreaterThan(0);
    if (costed) expect(run.result.usage!.costUsd).toBeGreaterThan(0);
    expect(run.progress.length).toBeGreaterThan(0);

    // every model request of this run went to the gateway under the provider's prefix, keyed with the token
    const mine = records().filter((r) => key(r) === token);
    expect(mine.filter((r) => r.method === 'POST').length).toBeGreaterThanOrEqual(2);
    for (const r of mine) expect(r.url.startsWith(prefix)).toBe(true);
    // nothing else was sent as a key on that prefix but tokens of these tests
    for (const r of records()) {
      const k = key(r);
      if (k && r.url.startsWith(prefix)) expect(k).toMatch(/^(avt-|fail-)/);
    }
    // the change is in the worktree, ready to be committed on the task branch
    expect(sh(run.workspace, 'status', '--porcelain')).toContain('hello.txt');
    // eslint-disable-next-line no-console
    console.log(`${name}: ${run.seconds.toFixed(1)}s, ${JSON.stringify(run.result.usage)}, progress: ${JSON.stringify(run.progress)}`);
  });

  it('ends failed with the reason when the provider answers 401, without hanging', async () => {
    const run = await runAgentLikeRunAgent(harness, model, 'fail-401', 120_000);
    expect(run.result.success).toBe(false);
    expect(run.result.reason).toBeTruthy();
    expect(run.result.transient).toBeFalsy();
    expect(existsSync(path.join(run.workspace, 'hello.txt'))).toBe(false);
    // eslint-disable-next-line no-console
    console.log(`${name} on 401: exit ${run.exitCode} after ${run.seconds.toFixed(1)}s: ${run.result.reason}`);
  });
});
