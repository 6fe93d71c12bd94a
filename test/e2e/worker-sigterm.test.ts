// A worker stopped gracefully (SIGTERM) mid-run: it takes no new work, exits after its grace period,
// and hands its running agent back: the container keeps running, the next worker re-attaches to it,
// and the run completes with the agent started once.
import { loadConfig } from '../../client/config';
import { startRun, waitForRun } from '../../client/api';
import { containersOfRun, makeRepo, sh, writeGraph } from '../support/repo';
import { spawnWorker, type WorkerProcess } from '../support/processes';
import { recordStarts, until } from '../support/wait';
import { DockerRuntime } from '../../runtimes/docker';
import { containerName } from '../../runtimes/runtime';

test('SIGTERM: the worker exits, its running agent is handed back and re-attached, not started again', async () => {
  const repo = makeRepo();
  const file = writeGraph(`
name: sigterm
repo: ${repo}
agents:
  slow: { harness: command, command: "sleep 20; echo done > slow.txt" }
tasks:
  - { id: slow, agent: slow, retry: { attempts: 3, backoff: 1s } }
`);
  const cfg = loadConfig();
  const runId = `sigterm-${process.pid}`;
  const starts = await recordStarts(runId);
  const runtime = new DockerRuntime();
  let worker: WorkerProcess = await spawnWorker();
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  try {
    await until('the agent runs', async () => (await runtime.inspect(containerName(runId, 'slow'))).state === 'running');
    const exited = new Promise<number | null>((resolve) => worker.child.once('exit', (code) => resolve(code)));
    worker.child.kill('SIGTERM');
    // the SDK's shutdown: the grace period (10 s), then the activity is told the worker stops
    expect(await exited).toBe(0);
    // handed back, still running: nobody stopped it
    expect((await runtime.inspect(containerName(runId, 'slow'))).state).toBe('running');
    worker = await spawnWorker();
    const report = await waitForRun(started.client, runId, cfg);
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    expect(sh(repo, 'show', `${report.integrationBranch}:slow.txt`)).toBe('done\n');
    expect(starts.counts()).toEqual({ slow: 1, 'slow:collector': 1 });
    expect(await containersOfRun(runId)).toEqual([]);
  } finally {
    starts.stop();
    await worker.stop();
    await started.client.connection.close();
  }
});
