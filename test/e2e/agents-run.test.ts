// The four real agent CLIs (Claude Code, Codex, Gemini CLI, OpenCode) run through the product: a
// graph, the worker, their containers from agentvisor/agents:latest, the run's gateway in replay
// mode serving the hand-written cassettes of test/fixtures/cassettes/agents (each provider's wire
// format: a tool call that writes a file, then a final answer, with known usage), no upstream at all.
// - a graph of the four plus a command agent: each file is on its task's branch, usage and cost
//   are the cassettes' numbers, the command agent finds its `home` file, the branches merge and
//   the evaluation passes;
// - upstream errors (401, 429, 500 in each provider's error shape) end their tasks failed with the
//   status in the reason, after bounded retries; a task past its timeout is stopped and removed.
// UPDATE_HARNESS_FIXTURES=1 copies the tasks' logs to test/fixtures/harnesses for the unit tests.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { harnessFor } from '../../harnesses';
import { ensureAgentsImage } from '../../images/build';
import type { RunReport, TaskReport } from '../../contract/run-types';
import { containersOfRun, makeRepo, sh, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';
import { recordStarts } from '../support/wait';

jest.setTimeout(900_000);

const CASSETTES = path.join(__dirname, '..', 'fixtures', 'cassettes', 'agents');
const HARNESS_FIXTURES = path.join(__dirname, '..', 'fixtures', 'harnesses');
// replay never resolves a credential, but a graph must still name one per provider
const KEY = 'AGENTVISOR_TEST_REPLAY_KEY';

// AGENTS_IMAGE=<image> runs the CLIs from another image than agentvisor/agents:latest (e.g. one
// built from images/agents/Dockerfile, the build for users with a registry).
const IMAGE = process.env.AGENTS_IMAGE ? `, image: ${JSON.stringify(process.env.AGENTS_IMAGE)}` : '';

/** The agents of both graphs: one per CLI, each with a model of its provider. */
const AGENTS = `
  claude:   { harness: claude-code, model: claude-sonnet-4-5, credentials: { anthropic: env:${KEY} }${IMAGE} }
  codex:    { harness: codex, model: gpt-5-codex, credentials: { openai: env:${KEY} }${IMAGE} }
  gemini:   { harness: gemini-cli, model: gemini-2.5-pro, credentials: { gemini: env:${KEY} }${IMAGE} }
  opencode: { harness: opencode, model: openai/gpt-5-mini, credentials: { openai: env:${KEY} }${IMAGE} }`;

/** What each CLI's cassette adds up to (see each file's header), as the task reports it. */
const CLIS = [
  { id: 'claude', harness: 'claude-code', usage: { inputTokens: 1750, outputTokens: 97, cachedTokens: 7400 }, costUsd: 0.009225 },
  { id: 'codex', harness: 'codex', usage: { inputTokens: 1328, outputTokens: 82, cachedTokens: 3072 }, costUsd: 0.002864 },
  { id: 'gemini', harness: 'gemini-cli', usage: { inputTokens: 3100, outputTokens: 80, cachedTokens: 3000 }, costUsd: 0.00505 },
  // its title call uses gpt-5.4-nano, which the price table does not know: tokens count, $0
  { id: 'opencode', harness: 'opencode', usage: { inputTokens: 1906, outputTokens: 159, cachedTokens: 8704 }, costUsd: 0.0008916 },
];

/** Task id → the unit tests' fixture name (UPDATE_HARNESS_FIXTURES). */
const FIXTURES: Record<string, string> = {
  claude: 'claude-code.out',
  codex: 'codex.out',
  gemini: 'gemini-cli.out',
  opencode: 'opencode.out',
  'claude-401': 'claude-code.error401.out',
  'claude-500': 'claude-code.error500.out',
  'codex-429': 'codex.error429.out',
  'codex-500': 'codex.error500.out',
  'gemini-429': 'gemini-cli.error429.out',
  'opencode-429': 'opencode.error429.out',
};

beforeAll(async () => {
  await ensureAgentsImage(new Docker());
  process.env[KEY] = 'never-sent-in-replay-mode';
});

afterAll(() => {
  delete process.env[KEY];
});

function byId(report: RunReport): Record<string, TaskReport> {
  return Object.fromEntries(report.tasks.map((t) => [t.id, t]));
}

/** The task's log as the worker wrote it (also for tasks whose failure carries no logPath). */
function taskLog(report: RunReport, taskId: string): string {
  return readFileSync(path.join(report.artifactsDir, 'logs', `${taskId}.log`), 'utf8');
}

function saveFixtures(report: RunReport): void {
  if (!process.env.UPDATE_HARNESS_FIXTURES) return;
  for (const t of report.tasks) {
    if (FIXTURES[t.id]) copyFileSync(path.join(report.artifactsDir, 'logs', `${t.id}.log`), path.join(HARNESS_FIXTURES, FIXTURES[t.id]));
  }
}

function seconds(t: TaskReport): string {
  return t.startedAt && t.finishedAt ? `${((t.finishedAt - t.startedAt) / 1000).toFixed(1)}s` : '?';
}

test('the four CLIs and a command agent in one graph: files on their branches, usage and cost from the cassettes, merged and evaluated', async () => {
  const repo = makeRepo();
  const runId = 'agents-mixed';
  const file = writeGraph(`
name: agents-mixed
repo: ${repo}
gateway: { mode: replay, cassettes: ${JSON.stringify(CASSETTES)} }
agents:${AGENTS}
  lister: { harness: command, command: "ls *.txt > /tmp/files && cat ~/.config/lister/header.txt /tmp/files > manifest.txt", home: { .config/lister/header.txt: header.txt } }
tasks:
  - { id: claude, agent: claude, prompt: "Create claude.txt", timeout: 5m }
  - { id: codex, agent: codex, prompt: "Create codex.txt", timeout: 5m }
  - { id: gemini, agent: gemini, prompt: "Create gemini.txt", timeout: 5m }
  - { id: opencode, agent: opencode, prompt: "Create opencode.txt", timeout: 5m }
  - { id: manifest, agent: lister, prompt: "List the files", after: [claude, codex, gemini, opencode] }
evaluate:
  command: >-
    for f in claude codex gemini opencode; do grep -qx "hello from $f" $f.txt || exit 1; done &&
    test "$(cat manifest.txt)" = "$(printf '# files\\nclaude.txt\\ncodex.txt\\ngemini.txt\\nopencode.txt')" && echo all five
`);
  // a file the command agent finds in its HOME (the agents' `home` option)
  writeFileSync(path.join(path.dirname(file), 'header.txt'), '# files\n');
  const report = await withRealWorker(() => runToEnd(file, { runId }));
  saveFixtures(report);
  const tasks = byId(report);

  console.log(report.tasks.map((t) => `${t.id}: ${t.status} in ${seconds(t)} ${JSON.stringify(t.usage ?? {})}`).join('\n'));

  const logs = Object.fromEntries(CLIS.map((c) => [c.id, taskLog(report, c.id)]));
  expect({
    status: report.status,
    error: report.error,
    tails: report.status === 'completed' ? {} : Object.fromEntries(Object.entries(logs).map(([k, v]) => [k, v.slice(-1500)])),
  }).toEqual({
    status: 'completed',
    error: undefined,
    tails: {},
  });
  for (const cli of CLIS) {
    const t = tasks[cli.id];
    expect([cli.id, t.status, t.files]).toEqual([cli.id, 'succeeded', [`${cli.id}.txt`]]);
    // the CLI's own tool wrote the file; it is committed on the task's branch
    expect(sh(repo, 'show', `${t.branch}:${cli.id}.txt`)).toBe(`hello from ${cli.id}\n`);
    // the gateway's meter of the replayed responses is the task's usage
    expect([cli.id, { ...t.usage, costUsd: undefined }]).toEqual([cli.id, { ...cli.usage, costUsd: undefined }]);
    expect(t.usage!.costUsd).toBeCloseTo(cli.costUsd, 9);
    // and the real CLI said so too: its own result line parses as a success, with progress lines
    const harness = harnessFor(cli.harness);
    expect(harness.result!(logs[cli.id], 0)).toMatchObject({ success: true });
    const progress = logs[cli.id]
      .split('\n')
      .map((l) => harness.progress!(l))
      .filter(Boolean);
    expect(progress.join('\n')).toContain(`/workspace/${cli.id}.txt`);
  }
  // the command agent started from all four branches
  expect(tasks.manifest.status).toBe('succeeded');
  expect(sh(repo, 'show', `${tasks.manifest.branch}:manifest.txt`)).toBe('# files\nclaude.txt\ncodex.txt\ngemini.txt\nopencode.txt\n');
  expect(report.merge.status).toBe('merged');
  expect(sh(repo, 'ls-tree', '-r', '--name-only', report.integrationBranch).split('\n')).toEqual(
    expect.arrayContaining(['claude.txt', 'codex.txt', 'gemini.txt', 'opencode.txt', 'manifest.txt']),
  );
  expect(report.evaluation).toMatchObject({ passed: true, exitCode: 0 });
  expect(readFileSync(report.evaluation!.logPath, 'utf8')).toContain('all five');
  expect(await containersOfRun(runId)).toEqual([]);
});

test('upstream 401, 429 and 500 end their tasks failed with the status in the reason, after bounded retries; a task past its timeout is stopped and its container removed', async () => {
  const repo = makeRepo();
  const runId = 'agents-errors';
  const once = 'retry: { attempts: 1 }';
  const file = writeGraph(`
name: agents-errors
repo: ${repo}
failFast: false
gateway: { mode: replay, cassettes: ${JSON.stringify(CASSETTES)} }
agents:${AGENTS}
tasks:
  - { id: claude-401, agent: claude, prompt: "Create claude.txt", ${once} }
  - { id: claude-500, agent: claude, prompt: "Create claude.txt", ${once} }
  - { id: codex-429, agent: codex, prompt: "Create codex.txt", retry: { attempts: 2, backoff: 1s } }
  - { id: codex-500, agent: codex, prompt: "Create codex.txt", ${once} }
  - { id: gemini-429, agent: gemini, prompt: "Create gemini.txt", ${once} }
  - { id: opencode-429, agent: opencode, prompt: "Create opencode.txt", ${once} }
  - { id: claude-timeout, agent: claude, prompt: "Build it", timeout: 60s, ${once} }
`);
  const starts = await recordStarts(runId);
  let report: RunReport;
  try {
    report = await withRealWorker(() => runToEnd(file, { runId }));
  } finally {
    starts.stop();
  }
  saveFixtures(report);

  console.log(report.tasks.map((t) => `${t.id}: ${t.status} in ${seconds(t)}: ${t.error}`).join('\n'));

  expect(report.status).toBe('failed');
  for (const t of report.tasks) expect([t.id, t.status]).toEqual([t.id, 'failed']);
  const reasons = Object.fromEntries(report.tasks.map((t) => [t.id, t.error ?? '']));
  // an invalid key is the agent's failure, not retried by the workflow
  expect(reasons['claude-401']).toMatch(/^claude: .*\(HTTP 401\)/);
  // the rest are transient: the CLI retried (AGENTVISOR_MAX_RETRIES), then the workflow per the task's policy
  expect(reasons['claude-500']).toMatch(/^transient failure: claude: API Error: 500 /);
  expect(reasons['codex-429']).toMatch(/^transient failure: codex: exceeded retry limit, last status: 429/);
  expect(reasons['codex-500']).toMatch(/^transient failure: codex: .*\(HTTP 500: the provider reported an internal server error\)/);
  expect(reasons['gemini-429']).toMatch(/^transient failure: gemini: .*Resource has been exhausted.*\(HTTP 429\)/);
  // OpenCode's own retries cannot be bounded: the harness stopped it, the gateway named the status
  expect(reasons['opencode-429']).toMatch(
    /^transient failure: opencode: gave up after the model call failed \d+ times \(2 retries, AGENTVISOR_MAX_RETRIES\): Rate limit reached .*\(the provider answered HTTP 429 ×\d+\)$/,
  );
  // each ran once, but codex-429, whose policy allows a second attempt
  expect(starts.counts()).toEqual({
    _gateway: 1,
    'claude-401': 1,
    'claude-500': 1,
    'codex-429': 2,
    'codex-500': 1,
    'gemini-429': 1,
    'opencode-429': 1,
    'claude-timeout': 1,
  });

  // the agent past its timeout: it was running its command when the deadline stopped it
  expect(reasons['claude-timeout']).toBe('timed out after 60s');
  const progress = taskLog(report, 'claude-timeout')
    .split('\n')
    .map((l) => harnessFor('claude-code').progress!(l))
    .filter(Boolean);
  expect(progress).toContain('Bash sleep 300');
  expect(progress.some((p) => p!.startsWith('done'))).toBe(false);

  // failed tasks leave no branch, and no container of the run remains
  for (const t of report.tasks) expect(sh(repo, 'branch', '--list', t.branch!)).toBe('');
  expect(await containersOfRun(runId)).toEqual([]);
});
