// A user cancels a run mid-way: the agents are stopped and everything is rolled back.
import Docker from 'dockerode';
import { loadConfig } from '../../client/config';
import { cancelRun, getRunReport, startRun, waitForRun } from '../../client/api';
import { containersOfRun, makeRepo, repoState, writeGraph } from '../support/repo';
import { withRealWorker } from '../support/temporal';
import { recordHistories } from '../support/record-history';

test('cancel mid-run: containers stopped, branches and worktrees exactly as before', async () => {
  const repo = makeRepo();
  const before = repoState(repo);
  const networksBefore = (await new Docker().listNetworks()).map((n) => n.Name).sort();
  const file = writeGraph(`
name: cancel-me
repo: ${repo}
agents:
  quick: { harness: command, command: "echo done > quick.txt" }
  slow:  { harness: command, command: "echo working; sleep 120" }
tasks:
  - { id: quick, agent: quick }
  - { id: slow, agent: slow }
  - { id: later, agent: quick, after: [slow] }
`);
  const cfg = loadConfig();
  const report = await withRealWorker(async () => {
    const started = await startRun(file, { config: cfg, worker: 'none', runId: 'e2e-cancel' });
    try {
      // wait until the quick task has succeeded and the slow agent's container runs
      for (let i = 0; i < 150; i++) {
        const live = await getRunReport(started.client, 'e2e-cancel', cfg);
        const running = await containersOfRun('e2e-cancel');
        if (running.length === 1 && live.tasks[0].status === 'succeeded') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(await containersOfRun('e2e-cancel')).toHaveLength(1);
      const t0 = Date.now();
      await cancelRun(started.client, 'e2e-cancel');
      const final = await waitForRun(started.client, 'e2e-cancel', cfg);
      expect(Date.now() - t0).toBeLessThan(30_000);
      return final;
    } finally {
      await started.client.connection.close();
    }
  });
  expect(report.status).toBe('cancelled');
  recordHistories('cancelled', ['e2e-cancel', 'e2e-cancel/slow']);
  expect(Object.fromEntries(report.tasks.map((t) => [t.id, t.status]))).toEqual({
    quick: 'succeeded',
    slow: 'cancelled',
    later: 'cancelled',
  });
  expect(repoState(repo)).toEqual(before);
  expect(await containersOfRun('e2e-cancel')).toEqual([]);
  expect((await new Docker().listNetworks()).map((n) => n.Name).sort()).toEqual(networksBefore);
});
