// A graph that grows while it runs, on real Temporal, Docker and git: `agentvisor add` (a Temporal
// update with a validator) adds tasks that run and are merged, and refuses a cyclic or unknown-agent
// addition with the reason, changing nothing; agents' proposals from their drop folder run within
// the graph's limits, and those beyond them are refused and shown in the status.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { getRunReport, startRun } from '../../client/api';
import { loadConfig } from '../../client/config';
import { cli } from '../support/cli';
import { containersOfRun, makeRepo, sh, writeGraph } from '../support/repo';
import { recordHistories } from '../support/record-history';
import { runToEnd, testClient, withRealWorker } from '../support/temporal';
import { until } from '../support/wait';

const tasksFile = (dir: string, name: string, yaml: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, yaml);
  return file;
};

describe('a graph that grows while it runs', () => {
  test('add: the new tasks run and are merged; a cyclic or unknown-agent addition is refused and changes nothing', async () => {
    const repo = makeRepo();
    const file = writeGraph(`
name: growing
repo: ${repo}
agents:
  waiter:
    harness: command
    shared: rw
    # holds the run open until an added task says go (at most a minute)
    command: "for i in $(seq 1 600); do test -f /shared/go && break; sleep 0.1; done; test -f /shared/go && echo waited > waited.txt"
  helper: { harness: command, shared: rw, command: "echo $AGENTVISOR_TASK > $AGENTVISOR_TASK.txt; touch /shared/go" }
tasks:
  - { id: wait, agent: waiter }
`);
    const dir = path.dirname(file);
    const cyclic = tasksFile(
      dir,
      'cyclic.yaml',
      'tasks:\n  - { id: x, agent: helper, after: [y] }\n  - { id: y, agent: helper, after: [x] }\n',
    );
    const unknown = tasksFile(dir, 'unknown.yaml', '- { id: z, agent: ghost }\n');
    const good = tasksFile(
      dir,
      'good.yaml',
      'tasks:\n  - { id: prep, agent: helper }\n  - { id: extra, agent: helper, after: [prep, wait] }\n',
    );
    const runId = 'e2e-add';
    const client = await testClient();
    try {
      const report = await withRealWorker(async () => {
        const started = await startRun(file, { config: loadConfig(), worker: 'none', runId });
        await started.client.connection.close();
        await until('the waiting task', async () => (await getRunReport(client, runId)).tasks[0].status === 'running', 90_000);
        const updatesBefore = (await client.workflow.getHandle(runId).describe()).historyLength;

        const c = await cli('add', runId, cyclic);
        expect({ code: c.code, stderr: c.stderr }).toEqual({
          code: 2,
          stderr: 'error: addition refused: dependency cycle: x -> y -> x\n',
        });
        const u = await cli('add', runId, unknown);
        expect({ code: u.code, stderr: u.stderr }).toEqual({
          code: 2,
          stderr: 'error: addition refused: unknown agent "ghost" of task "z" (agents: waiter, helper)\n',
        });
        // refused in the validator: nothing in the run changed, not even its history
        expect((await getRunReport(client, runId)).tasks.map((t) => t.id)).toEqual(['wait']);
        expect((await client.workflow.getHandle(runId).describe()).historyLength).toBe(updatesBefore);

        const g = await cli('add', runId, good);
        expect({ code: g.code, stdout: g.stdout }).toEqual({ code: 0, stdout: `added prep, extra to ${runId}\n` });
        await client.workflow
          .getHandle(runId)
          .result()
          .catch(() => undefined);
        return getRunReport(client, runId);
      });
      expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
      expect(report.tasks.map((t) => [t.id, t.status, t.addedBy])).toEqual([
        ['wait', 'succeeded', undefined],
        ['prep', 'succeeded', 'agentvisor add'],
        ['extra', 'succeeded', 'agentvisor add'],
      ]);
      // extra started from both its dependencies' work, and everything was merged
      const files = sh(repo, 'ls-tree', '-r', '--name-only', report.integrationBranch).split('\n');
      expect(files).toEqual(expect.arrayContaining(['waited.txt', 'prep.txt', 'extra.txt']));
      expect(sh(repo, 'ls-tree', '-r', '--name-only', report.tasks[2].commit!).split('\n')).toEqual(
        expect.arrayContaining(['waited.txt', 'prep.txt']),
      );
      recordHistories('graph-add', [runId]);
      expect(await containersOfRun(runId)).toEqual([]);
      // too late: the run is over
      const late = await cli('add', runId, good);
      expect(late.code).toBe(2);
    } finally {
      await client.connection.close();
    }
  });

  test("agents' proposals run within the limits; those beyond them are refused and shown in the status", async () => {
    const repo = makeRepo();
    const file = writeGraph(`
name: proposing
repo: ${repo}
agents:
  planner:
    harness: command
    shared: rw
    command: |
      printf 'tasks:\\n  - { id: impl-a, agent: coder, prompt: A }\\n  - { id: impl-b, agent: coder, prompt: B }\\n' > /shared/proposals/1-more.yaml
      printf 'tasks:\\n  - { id: impl-c, agent: coder }\\n' > /shared/proposals/2-extra.yaml
      printf 'tasks:\\n  - { id: no-agent }\\n' > /shared/proposals/3-bad.yaml
      ln -s /etc/passwd /shared/proposals/4-link.yaml
  coder:
    harness: command
    shared: rw
    command: |
      echo "$AGENTVISOR_PROMPT" > $AGENTVISOR_TASK.txt
      echo "{\\"id\\": \\"more-$AGENTVISOR_TASK\\", \\"agent\\": \\"coder\\"}" > /shared/proposals/deeper.json
  scribe: { harness: command, shared: rw, command: "printf 'id: rogue\\nagent: coder\\n' > /shared/proposals/rogue.yaml" }
proposals:
  from: [planner, coder]
  agents: [coder]
  maxTasks: 2
  maxDepth: 1
tasks:
  - { id: plan, agent: planner }
  - { id: note, agent: scribe }
`);
    const report = await withRealWorker(() => runToEnd(file, { runId: 'e2e-proposals' }));
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    expect(report.tasks.map((t) => [t.id, t.status, t.addedBy])).toEqual([
      ['plan', 'succeeded', undefined],
      ['note', 'succeeded', undefined],
      ['impl-a', 'succeeded', 'proposal of plan'],
      ['impl-b', 'succeeded', 'proposal of plan'],
    ]);
    expect(sh(repo, 'show', `${report.integrationBranch}:impl-a.txt`)).toBe('A\n');
    const byFile = (by: string, file: string) => report.proposals!.find((p) => p.by === by && p.file === file);
    expect(byFile('plan', '1-more.yaml')).toEqual({ by: 'plan', file: '1-more.yaml', tasks: ['impl-a', 'impl-b'], status: 'accepted' });
    expect(byFile('plan', '2-extra.yaml')).toMatchObject({
      status: 'refused',
      reason: "over the run's limit of 2 proposed tasks (2 accepted before)",
    });
    expect(byFile('plan', '3-bad.yaml')).toMatchObject({
      status: 'refused',
      reason: 'malformed: line 2: tasks.0.agent: Invalid input: expected string, received undefined',
    });
    expect(byFile('plan', '4-link.yaml')).toMatchObject({ status: 'refused', reason: 'malformed: not a regular file' });
    expect(byFile('note', 'rogue.yaml')).toMatchObject({
      status: 'refused',
      reason: 'agent scribe may not propose tasks (proposals.from: planner, coder)',
    });
    expect(byFile('impl-a', 'deeper.json')).toMatchObject({
      status: 'refused',
      tasks: ['more-impl-a'],
      reason: 'too deep: impl-a is itself 1 proposal(s) down (proposals.maxDepth: 1)',
    });
    expect(report.proposals).toHaveLength(7);
    recordHistories('graph-proposals', ['e2e-proposals']);

    const status = await cli('status', 'e2e-proposals');
    expect(status.stdout).toContain("proposal 2-extra.yaml of plan (impl-c): refused: over the run's limit of 2 proposed tasks");
    expect(status.stdout).toContain('proposal rogue.yaml of note (rogue): refused: agent scribe may not propose tasks');
  });
});
