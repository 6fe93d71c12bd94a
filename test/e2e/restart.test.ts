// The Temporal dev server restarts mid-run (its state in a SQLite file) and the run completes; an
// agent container killed from outside is retried per the task's policy, then fails cleanly.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../client/config';
import { startRun, waitForRun } from '../../client/api';
import { DockerRuntime } from '../../runtimes/docker';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { devServerWithFile } from '../support/processes';
import { freePort } from '../support/ports';
import { runToEnd, untilPolling, withRealWorker } from '../support/temporal';
import { createWorker } from '../../workers/worker';
import { until } from '../support/wait';

test('the dev server stops and starts again mid-run; the run completes', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-restart-'));
  const server = await devServerWithFile(dataDir, await freePort(), await freePort());
  const cfg = { ...loadConfig(), address: server.address, explicitAddress: true, dataDir };
  const repo = makeRepo();
  const file = writeGraph(`
name: restart
repo: ${repo}
agents:
  w: { harness: command, command: "sleep 8; echo done > done.txt" }
tasks:
  - { id: one, agent: w }
  - { id: two, agent: w, after: [one] }
`);
  const { worker, connection } = await createWorker({
    address: server.address,
    namespace: 'default',
    overrides: { shutdownGraceTime: '1 second' },
  });
  const running = worker.run();
  try {
    await untilPolling(server.address);
    const started = await startRun(file, { config: cfg, worker: 'none', runId: 'restart-1' });
    await started.client.connection.close();
    await until('the first agent', async () => (await containersOfRun('restart-1')).length === 1);
    await server.stop();
    await new Promise((r) => setTimeout(r, 3000));
    await server.start();

    const { connect } = await import('../../client/connection');
    const client = await connect(cfg, { startServer: false });
    const report = await waitForRun(client, 'restart-1', cfg);
    await client.connection.close();
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    expect(report.tasks.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);
    expect(sh(repo, 'show', `${report.integrationBranch}:done.txt`)).toBe('done\n');
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('an agent container killed from outside is retried per policy, then the task fails cleanly', async () => {
  const repo = makeRepo();
  const before = repoState(repo);
  const file = writeGraph(`
name: killed
repo: ${repo}
agents:
  w: { harness: command, command: "echo attempt; sleep 30" }
tasks:
  - { id: victim, agent: w, retry: { attempts: 2, backoff: 1s } }
`);
  const runtime = new DockerRuntime();
  const killer = (async () => {
    // kill each attempt's container as soon as it runs: two attempts, two kills
    for (let kills = 0; kills < 2;) {
      const found = await containersOfRun('killed-1');
      const info = found.length ? await runtime.inspect(found[0].replace(/^\//, '')) : undefined;
      if (info?.state === 'running') {
        await runtime.docker.getContainer(info.name).kill();
        kills++;
        await until('the killed container to go', async () => (await runtime.inspect(info.name)).state !== 'running');
        await until('removal or a new attempt', async () => (await runtime.inspect(info.name)).state !== 'exited', 30_000);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const report = await withRealWorker(() => runToEnd(file, { runId: 'killed-1' }));
  await killer;
  expect(report.status).toBe('failed');
  expect(report.tasks[0].status).toBe('failed');
  expect(report.tasks[0].error).toMatch(/killed \(exit 137\)/);
  expect(repoState(repo)).toEqual(before);
  expect(await containersOfRun('killed-1')).toEqual([]);
});
