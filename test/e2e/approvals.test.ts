// Approval gates on real Temporal, Docker and git, answered through the real CLI: the run waits in
// awaiting_approval with no container running, `approve` lets it go on, `reject` fails it with the
// reason and rolls it back, and a gate nobody answers applies the graph's onTimeout.
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../client/config';
import { getRunReport, startRun } from '../../client/api';
import { STATUS } from '../../contract/search-attributes';
import type { RunReport } from '../../contract/run-types';
import { cli } from '../support/cli';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { recordHistories } from '../support/record-history';
import { testClient, withRealWorker } from '../support/temporal';
import { until } from '../support/wait';

const graph = (name: string, repo: string, body: string) => `
name: ${name}
repo: ${repo}
agents:
  w: { harness: command, command: "echo $AGENTVISOR_TASK > $AGENTVISOR_TASK.txt" }
${body}`;

async function start(file: string, runId: string) {
  const started = await startRun(file, { config: loadConfig(), worker: 'none', runId });
  await started.client.connection.close();
}

const reportOf = (client: Client, runId: string) => getRunReport(client, runId, loadConfig());

async function waitFor(client: Client, runId: string, what: string, cond: (r: RunReport) => boolean): Promise<RunReport> {
  let report: RunReport | undefined;
  await until(what, async () => cond((report = await reportOf(client, runId))), 90_000);
  return report!;
}

const finalReport = async (client: Client, runId: string) => {
  await client.workflow
    .getHandle(runId)
    .result()
    .catch(() => undefined);
  return reportOf(client, runId);
};

describe('approval gates', () => {
  test('the run waits with no container running; a wrong answer is refused; approve goes on; a merge gate times out into approval', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graph(
        'gated',
        repo,
        `
tasks:
  - { id: build, agent: w }
  - { id: deploy, agent: w, after: [build], approval: { timeout: 10m } }
merge:
  approval: { timeout: 3s, onTimeout: approve }
`,
      ),
    );
    const runId = 'e2e-gate-approve';
    const client = await testClient();
    try {
      const report = await withRealWorker(async () => {
        await start(file, runId);
        const waiting = await waitFor(client, runId, 'the deploy gate', (r) => r.status === 'awaiting_approval');
        expect(waiting.tasks.map((t) => [t.id, t.status])).toEqual([
          ['build', 'succeeded'],
          ['deploy', 'awaiting_approval'],
        ]);
        expect(waiting.approvals).toMatchObject([{ gate: 'deploy', status: 'waiting', onTimeout: 'reject', timeoutMs: 600_000 }]);
        // waiting costs nothing: no container of the run exists
        expect(await containersOfRun(runId)).toEqual([]);
        // visible in the Temporal UI: the status search attribute says so
        expect((await client.workflow.getHandle(runId).describe()).typedSearchAttributes.get(STATUS)).toBe('awaiting_approval');

        const status = await cli('status', runId);
        expect(status.stdout).toContain(`run ${runId}: awaiting_approval`);
        expect(status.stdout).toContain(`awaiting approval: deploy (agentvisor approve ${runId} deploy`);

        const wrong = await cli('approve', runId, 'merge');
        expect({ code: wrong.code, stderr: wrong.stderr }).toEqual({
          code: 2,
          stderr: 'error: approval refused: no approval is waiting for "merge" (waiting: deploy)\n',
        });
        const ok = await cli('approve', runId);
        expect({ code: ok.code, stdout: ok.stdout }).toEqual({ code: 0, stdout: `approved deploy of ${runId}\n` });
        return finalReport(client, runId);
      });
      expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
      expect(report.approvals).toMatchObject([
        { gate: 'deploy', status: 'approved' },
        { gate: 'merge', status: 'approved', timedOut: true, reason: 'nobody answered within 3s' },
      ]);
      expect(report.approvals![0].timedOut).toBeUndefined();
      expect(sh(repo, 'show', `${report.integrationBranch}:deploy.txt`)).toBe('deploy\n');
      recordHistories('approvals', [runId]);
    } finally {
      await client.connection.close();
    }
  });

  test('reject fails the run with the reason and rolls it back; a gate timing out into rejection does too', async () => {
    const repoA = makeRepo();
    const repoB = makeRepo();
    const before = [repoState(repoA), repoState(repoB)];
    const rejected = writeGraph(graph('gate-reject', repoA, `tasks:\n  - { id: change, agent: w }\nmerge:\n  approval: {}\n`));
    const timedOut = writeGraph(
      graph(
        'gate-timeout',
        repoB,
        `tasks:\n  - { id: first, agent: w }\n  - { id: second, agent: w, after: [first], approval: { timeout: 2s } }\n`,
      ),
    );
    const client = await testClient();
    try {
      const [r, t] = await withRealWorker(async () => {
        await start(rejected, 'e2e-gate-reject');
        await start(timedOut, 'e2e-gate-timeout');
        await waitFor(client, 'e2e-gate-reject', 'the merge gate', (x) => x.status === 'awaiting_approval');
        const no = await cli('reject', 'e2e-gate-reject', 'merge', '--reason', 'not before the release');
        expect({ code: no.code, stdout: no.stdout }).toEqual({
          code: 0,
          stdout: 'rejected merge of e2e-gate-reject: not before the release\n',
        });
        return Promise.all([finalReport(client, 'e2e-gate-reject'), finalReport(client, 'e2e-gate-timeout')]);
      });
      expect(r.status).toBe('failed');
      expect(r.error).toBe('approval of the merge rejected: not before the release');
      expect(r.merge.status).toBe('skipped');
      expect(t.status).toBe('failed');
      expect(t.tasks.map((x) => [x.id, x.status])).toEqual([
        ['first', 'succeeded'],
        ['second', 'failed'],
      ]);
      expect(t.tasks[1].error).toBe('approval of task second timed out: nobody answered within 2s');
      expect(t.approvals).toMatchObject([{ gate: 'second', status: 'rejected', timedOut: true }]);
      // rolled back exactly; nothing left running
      expect([repoState(repoA), repoState(repoB)]).toEqual(before);
      expect(await containersOfRun('e2e-gate-reject')).toEqual([]);
      expect(await containersOfRun('e2e-gate-timeout')).toEqual([]);
      // a finished run answers nothing
      const late = await cli('approve', 'e2e-gate-reject');
      expect({ code: late.code, stderr: late.stderr }).toEqual({
        code: 2,
        stderr: 'error: run "e2e-gate-reject" is failed, not running\n',
      });
    } finally {
      await client.connection.close();
    }
  });
});
