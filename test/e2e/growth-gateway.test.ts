// Tasks added during a run reach their models, on real Temporal, Docker, git and the run's real
// gateway (replay mode, the hand-written cassettes of test/fixtures/cassettes/agents): a planner
// proposes a Claude Code task, which the run's gateway did not know at its start; the real CLI's
// calls are replayed through the gateway, it writes its file, and its usage is in the report. The one
// addition no gateway can take, a task whose credential is a Kubernetes Secret (read by a gateway
// only when it starts), is refused by `agentvisor add` with exit 2, leaving the run's history as it was.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { ensureAgentsImage } from '../../images/build';
import { containersOfRun, makeRepo, sh, writeGraph } from '../support/repo';
import { getRunReport, startRun } from '../../client/api';
import { loadConfig } from '../../client/config';
import { cli } from '../support/cli';
import { runToEnd, testClient, withRealWorker } from '../support/temporal';
import { until } from '../support/wait';

jest.setTimeout(600_000);

const CASSETTES = path.join(__dirname, '..', 'fixtures', 'cassettes', 'agents');

beforeAll(async () => {
  await ensureAgentsImage(new Docker());
  process.env.AGENTVISOR_TEST_UNUSED_KEY = 'unused';
}, 300_000);

test('a model-backed task proposed during the run: its calls go through the gateway, its usage is reported', async () => {
  const repo = makeRepo();
  const runId = `grow-model-${process.pid}`;
  // replay sends no key, but the graph names one: the agent is model-backed either way
  const file = writeGraph(`
name: grow-model
repo: ${repo}
gateway: { mode: replay, cassettes: ${CASSETTES} }
agents:
  planner:
    harness: command
    shared: rw
    command: |
      printf 'tasks:\\n  - { id: claude, agent: claude, prompt: "Create claude.txt" }\\n' > /shared/proposals/follow-up.yaml
  claude: { harness: claude-code, model: claude-sonnet-4-5, credentials: { anthropic: env:AGENTVISOR_TEST_UNUSED_KEY } }
proposals:
  from: [planner]
  agents: [claude]
  maxTasks: 1
  maxDepth: 1
tasks:
  - { id: plan, agent: planner }
`);
  const report = await withRealWorker(() => runToEnd(file, { runId }));
  const byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
  expect(report.proposals).toEqual([{ by: 'plan', file: 'follow-up.yaml', tasks: ['claude'], status: 'accepted' }]);
  expect({ status: report.status, error: report.error, claude: byId.claude?.error }).toEqual({
    status: 'completed',
    error: undefined,
    claude: undefined,
  });
  expect(report.tasks.map((t) => [t.id, t.status, t.addedBy])).toEqual([
    ['plan', 'succeeded', undefined],
    ['claude', 'succeeded', 'proposal of plan'],
  ]);
  // the cassette's two calls, metered by the gateway (see claude.yaml's header)
  expect(byId.claude.usage).toMatchObject({ inputTokens: 1750, outputTokens: 97, cachedTokens: 7400 });
  expect(byId.claude.usage!.costUsd).toBeCloseTo(0.009225, 9);
  expect(sh(repo, 'show', `${report.integrationBranch}:claude.txt`)).toBe('hello from claude\n');
  expect(await containersOfRun(runId)).toEqual([]);
});

test('an added task whose credential is a Kubernetes Secret is refused, exit 2, and the run goes on', async () => {
  const repo = makeRepo();
  const runId = `grow-secret-${process.pid}`;
  const file = writeGraph(`
name: grow-secret
repo: ${repo}
agents:
  waiter:
    harness: command
    shared: rw
    # holds the run open until an added task says go (at most a minute)
    command: "for i in $(seq 1 600); do test -f /shared/go && break; sleep 0.1; done"
  go: { harness: command, shared: rw, command: "touch /shared/go" }
  vault: { harness: claude-code, model: claude-sonnet-4-5, credentials: { anthropic: secret:model-keys/anthropic } }
tasks:
  - { id: wait, agent: waiter }
`);
  const dir = path.dirname(file);
  const secretTask = path.join(dir, 'secret.yaml');
  writeFileSync(secretTask, '- { id: vaulted, agent: vault, prompt: "Create vaulted.txt" }\n');
  const goTask = path.join(dir, 'go.yaml');
  writeFileSync(goTask, '- { id: go, agent: go }\n');
  const client = await testClient();
  try {
    const report = await withRealWorker(async () => {
      const started = await startRun(file, { config: loadConfig(), worker: 'none', runId });
      await started.client.connection.close();
      await until('the waiting task', async () => (await getRunReport(client, runId)).tasks[0].status === 'running', 90_000);
      const historyBefore = (await client.workflow.getHandle(runId).describe()).historyLength;
      const refused = await cli('add', runId, secretTask);
      expect({ code: refused.code, stderr: refused.stderr }).toEqual({
        code: 2,
        stderr:
          'error: addition refused: task "vaulted" uses agent vault, whose credential secret:model-keys/anthropic is a Kubernetes ' +
          "Secret: the run's gateway reads Secrets only when it starts, so it cannot take a task added later. Put the task in " +
          'the graph file of a new run, or give its agent a credential the worker reads (env: or file:)\n',
      });
      expect((await client.workflow.getHandle(runId).describe()).historyLength).toBe(historyBefore);
      expect((await cli('add', runId, goTask)).code).toBe(0);
      await client.workflow
        .getHandle(runId)
        .result()
        .catch(() => undefined);
      return getRunReport(client, runId);
    });
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    expect(report.tasks.map((t) => [t.id, t.status])).toEqual([
      ['wait', 'succeeded'],
      ['go', 'succeeded'],
    ]);
    expect(await containersOfRun(runId)).toEqual([]);
  } finally {
    await client.connection.close();
  }
});
