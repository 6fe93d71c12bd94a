// A worker: polls the run task queue and executes workflows and activities against one container
// runtime. `agentvisor worker` runs one; `agentvisor run` runs one in-process when none is polling.
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { createActivities } from '../activities';
import { DockerRuntime } from '../runtimes/docker';
import { scopeOf, type ContainerRuntime } from '../runtimes/runtime';
import { TASK_QUEUE } from '../workflows/run-types';

export interface AgentvisorWorkerOptions {
  address: string;
  namespace: string;
  taskQueue?: string;
  runtime?: ContainerRuntime;
  /** serve Prometheus metrics (the SDK's and agentvisor's) on this address, e.g. 0.0.0.0:9464 */
  metricsAddress?: string;
  /** SDK log level; the CLI keeps the SDK quiet unless asked */
  logLevel?: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** extra worker options (tests shorten shutdown, set identity, ...) */
  overrides?: Partial<WorkerOptions>;
}

export async function createWorker(opts: AgentvisorWorkerOptions): Promise<{ worker: Worker; connection: NativeConnection }> {
  if (opts.logLevel || opts.metricsAddress) installRuntime(opts.logLevel ?? 'INFO', opts.metricsAddress);
  const connection = await NativeConnection.connect({ address: opts.address });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    ...workflowCode(),
    activities: createActivities({ runtime: opts.runtime ?? new DockerRuntime(), scope: scopeOf(opts.namespace, opts.address) }),
    // Heartbeats carry cancellation back to a running agent; do not hold them back long.
    maxHeartbeatThrottleInterval: '2 seconds',
    // A worker's capacity: 198 agents at once on 2 cores starved the event loop until heartbeats
    // timed out (BENCHMARKS.md, fan 200). Excess tasks wait in Temporal's queue instead.
    maxConcurrentActivityTaskExecutions: Number(process.env.AGENTVISOR_WORKER_CAPACITY) || 32,
    shutdownGraceTime: '10 seconds',
    ...opts.overrides,
  });
  return { worker, connection };
}

/** The bundle made at build time (dist/workflow-bundle.js) when there is one, else the sources. */
function workflowCode(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = path.join(__dirname, '..', 'workflow-bundle.js');
  if (existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('../workflows') };
}

let runtimeInstalled = false;
function installRuntime(level: NonNullable<AgentvisorWorkerOptions['logLevel']>, metricsAddress?: string) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: new DefaultLogger(level),
      telemetryOptions: metricsAddress ? { metrics: { prometheus: { bindAddress: metricsAddress } } } : undefined,
    });
  } catch {
    // already installed by the embedding program: keep its logger
  }
}
