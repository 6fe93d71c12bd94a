// A worker and a client on the test server (started by global-setup).
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadConfig } from '../../client/config';
import { startRun, waitForRun, type StartOptions } from '../../client/api';
import { createWorker } from '../../workers/worker';
import type { RunReport } from '../../contract/run-types';

export async function testClient(): Promise<Client> {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  return new Client({ connection, namespace: 'default' });
}

/** The real worker (real activities, Docker runtime) for the duration of `fn`. */
export async function withRealWorker<T>(fn: () => Promise<T>): Promise<T> {
  const { worker, connection } = await createWorker({
    address: process.env.TEMPORAL_ADDRESS!,
    namespace: 'default',
    overrides: { shutdownGraceTime: '1 second' },
  });
  try {
    return await worker.runUntil(fn);
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
