// A worker and a client on the test server (started by global-setup).
import type { ContainerRuntime } from '../../runtimes/runtime';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadConfig } from '../../client/config';
import { startRun, waitForRun, type StartOptions } from '../../client/api';
import { createWorker } from '../../workers/worker';
import { pollerBuilds } from '../../client/connection';
import { buildId } from '../../workers/version';
import { until } from './wait';
import type { RunReport } from '../../contract/run-types';

export async function testClient(): Promise<Client> {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  return new Client({ connection, namespace: 'default' });
}

/** The real worker (real activities; the Docker runtime unless given another) for the duration of `fn`. */
export async function withRealWorker<T>(fn: () => Promise<T>, runtime?: ContainerRuntime): Promise<T> {
  const { worker, connection } = await createWorker({
    address: process.env.TEMPORAL_ADDRESS!,
    namespace: 'default',
    ...(runtime ? { runtime } : {}),
    overrides: { shutdownGraceTime: '1 second' },
  });
  try {
    return await worker.runUntil(async () => {
      await untilPolling(process.env.TEMPORAL_ADDRESS!);
      return fn();
    });
  } finally {
    await connection.close();
  }
}

/**
 * Until a worker of `build` (default: this one's) polls the server at `address`: a run started with `worker: 'none'`
 * before then is refused (client/api.ts: startPinned), and a worker's first poll comes a moment
 * after it starts running.
 */
export async function untilPolling(address: string, build = buildId()): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace: 'default' });
    await until(`a worker of build ${build} polling`, async () => (await pollerBuilds(client)).includes(build), 30_000);
  } finally {
    await connection.close();
  }
}

/** A worker with the given (stub) activities on its own task queue. */
export async function withStubWorker<T>(taskQueue: string, activities: WorkerOptions['activities'], fn: () => Promise<T>): Promise<T> {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: require.resolve('../../workflows'),
    activities,
    shutdownGraceTime: '1 second',
  });
  try {
    return await worker.runUntil(fn);
  } finally {
    await connection.close();
  }
}

/** Starts a run of a graph file through the public API and waits for its final report. */
export async function runToEnd(file: string, opts: StartOptions = {}): Promise<RunReport> {
  const cfg = loadConfig();
  const started = await startRun(file, { config: cfg, worker: 'none', ...opts });
  try {
    return await waitForRun(started.client, started.runId, cfg);
  } finally {
    await started.client.connection.close();
  }
}
