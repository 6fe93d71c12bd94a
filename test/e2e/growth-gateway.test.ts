// Tasks added during a run reach their models, on real Temporal, Docker, git and the run's real
// gateway (replay mode, the hand-written cassettes of test/fixtures/cassettes/agents): a planner
// proposes a Claude Code task, which the run's gateway did not know at its start; the real CLI's
// calls are replayed through the gateway, it writes its file, and its usage is in the report.
import * as path from 'node:path';
import Docker from 'dockerode';
import { ensureAgentsImage } from '../../images/build';
import { containersOfRun, makeRepo, sh, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';

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
