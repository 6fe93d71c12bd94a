// Worker versioning on a real server: a worker of an older build and one of the current build poll
// the same task queue at once; a run started by the current CLI is processed by the current build
// alone (every workflow task and activity in its histories), and the CLI counts only its own build.
import type { Client } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { loadConfig } from '../../client/config';
import { runArtifactsDir } from '../../paths/data-folder';
import { pollerBuilds } from '../../client/connection';
import { startRun, waitForRun } from '../../client/api';
import { buildId } from '../../workers/version';
import { makeRepo, sh, writeGraph } from '../support/repo';
import { spawnWorker, type WorkerProcess } from '../support/processes';
import { testClient } from '../support/temporal';
import { until } from '../support/wait';

test('runs started by this build are processed only by workers of this build', async () => {
  const repo = makeRepo();
  const file = writeGraph(`
name: versioned
repo: ${repo}
agents:
  w: { harness: command, command: "echo $AGENTVISOR_TASK > $AGENTVISOR_TASK.txt" }
tasks:
  - { id: one, agent: w }
  - { id: two, agent: w }
  - { id: three, agent: w, after: [one] }
evaluate: { command: "test -f one.txt && test -f two.txt && test -f three.txt" }
`);
  const cfg = loadConfig();
  const runId = `versioned-${process.pid}`;
  const workers: WorkerProcess[] = [];
  // builds of this test's own (the server is shared with the other test files, whose workers have
  // polled as the real build): the CLI here and the current worker are one, the older another
  const current = `current-${process.pid}-${Date.now().toString(36)}`;
  const older = `older-${process.pid}-${Date.now().toString(36)}`;
  process.env.AGENTVISOR_BUILD_ID = current;
  try {
    // an older build alone: the CLI says no worker of its build has polled, and starts nothing
    workers.push(await spawnWorker({ ...process.env, AGENTVISOR_BUILD_ID: older }));
    const [olderWorker] = workers;
    await expect(startRun(file, { config: cfg, worker: 'none', runId })).rejects.toThrow(
      /no worker of this version \(build .*\) has polled this server yet/,
    );
    expect(existsSync(runArtifactsDir(cfg.dataDir, runId))).toBe(false);

    // both builds poll at once: the run goes to the current one only
    workers.push(await spawnWorker({ ...process.env, AGENTVISOR_BUILD_ID: current }));
    const currentWorker = workers[1];
    // (a worker logs that it runs a moment before the server has its first poll)
    const probe = await testClient();
    await until('the current build polls', async () => (await pollerBuilds(probe)).includes(current)).finally(() =>
      probe.connection.close(),
    );
    const started = await startRun(file, { config: cfg, worker: 'none', runId });
    try {
      expect(buildId()).toBe(current);
      expect(await pollerBuilds(started.client)).toEqual(expect.arrayContaining([older, current]));

      const report = await waitForRun(started.client, runId, cfg);
      expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
      expect(sh(repo, 'ls-tree', '-r', '--name-only', report.integrationBranch).trim().split('\n')).toEqual([
        'README.md',
        'one.txt',
        'src/value.txt',
        'three.txt',
        'two.txt',
      ]);

      const identities = await workerIdentities(started.client, [runId, `${runId}/one`, `${runId}/two`, `${runId}/three`]);
      expect(identities.size).toBeGreaterThan(0);
      expect([...identities].every((id) => id.startsWith(`${currentWorker.child.pid}@`))).toBe(true);
      expect([...identities].some((id) => id.startsWith(`${olderWorker.child.pid}@`))).toBe(false);
    } finally {
      await started.client.connection.close();
    }
  } finally {
    delete process.env.AGENTVISOR_BUILD_ID;
    for (const w of workers) await w.stop();
  }
});

/** The identity of every worker that started a workflow task or an activity in these histories. */
async function workerIdentities(client: Client, workflowIds: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const id of workflowIds) {
    for (const e of (await client.workflow.getHandle(id).fetchHistory()).events ?? []) {
      const identity = e.workflowTaskStartedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity;
      if (identity) found.add(identity);
    }
  }
  return found;
}
