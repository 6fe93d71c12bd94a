// The Docker engine stopped and started again mid-run (dockerd by its pid, as scripts/setup.sh
// starts it): the agents' containers die with it; their tasks are retried per their policy on a new
// container, and the run ends, completed, with the merged files exact, and nothing left behind.
// It restarts the machine's engine: it runs alone (jest --runInBand), as every test here does.
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import Docker from 'dockerode';
import { loadConfig } from '../../client/config';
import { startRun, waitForRun } from '../../client/api';
import { containerName } from '../../runtimes/runtime';
import { DockerRuntime } from '../../runtimes/docker';
import { expectCompletedWithTree, expectEachMadeOnce } from '../support/run-result';
import { containersOfRun, makeRepo, writeGraph } from '../support/repo';
import { spawnWorker, type WorkerProcess } from '../support/processes';
import { until } from '../support/wait';

/** Stops dockerd (SIGTERM to the pid in its pid file), waits for it to go, and starts it again. */
async function restartDockerd(): Promise<void> {
  const pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());
  process.kill(pid, 'SIGTERM');
  await until(
    'dockerd stopped',
    () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    60_000,
  );
  const log = openSync('/var/log/dockerd.log', 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
  await until(
    'dockerd answers',
    () =>
      new Docker().ping().then(
        () => true,
        () => false,
      ),
    60_000,
  );
}

test('dockerd stopped and started mid-run: the dead agents are retried on new containers and the run completes', async () => {
  const repo = makeRepo();
  const file = writeGraph(`
name: engine-restart
repo: ${repo}
agents:
  a: { harness: command, command: "sleep 8; echo a > a.txt" }
  b: { harness: command, command: "sleep 8; echo b > b.txt" }
tasks:
  - { id: a, agent: a, retry: { attempts: 3, backoff: 1s } }
  - { id: b, agent: b, retry: { attempts: 3, backoff: 1s } }
evaluate: { command: "test -f a.txt && test -f b.txt" }
`);
  const cfg = loadConfig();
  const runId = `engine-${process.pid}`;
  const runtime = new DockerRuntime();
  const worker: WorkerProcess = await spawnWorker();
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  try {
    await until('both agents run', async () =>
      (await Promise.all(['a', 'b'].map((t) => runtime.inspect(containerName(runId, t))))).every((c) => c.state === 'running'),
    );
    await restartDockerd();
    // bounded below jest's own timeout, so that a run that does not end shows the worker's log
    const report = await Promise.race([
      waitForRun(started.client, runId, cfg),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`the run did not end in 120 s; the worker's log:\n${worker.output().slice(-20_000)}`)), 120_000),
      ),
    ]);
    // completed, evaluated, and the merged tree exactly
    expectCompletedWithTree(repo, report, ['README.md', 'a.txt', 'b.txt', 'src/value.txt']);
    // one commit per agent: the dead containers' attempts left nothing
    expectEachMadeOnce(repo, report, { agents: ['a', 'b'] });
    // the agents died with the engine and ran again: their runAgent took a second attempt
    for (const t of ['a', 'b']) expect(await runAgentAttempts(started.client, `${runId}/${t}`)).toBeGreaterThanOrEqual(2);
    expect(await containersOfRun(runId)).toEqual([]);
  } finally {
    await worker.stop();
    await started.client.connection.close();
  }
});

/** The attempt that finished the task's runAgent (its history records the last attempt's start). */
async function runAgentAttempts(client: Client, workflowId: string): Promise<number> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const scheduled = new Set(
    events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent').map((e) => String(e.eventId)),
  );
  return Math.max(
    0,
    ...events
      .map((e) => e.activityTaskStartedEventAttributes)
      .filter((a) => a && scheduled.has(String(a.scheduledEventId)))
      .map((a) => a!.attempt ?? 1),
  );
}
