// Connecting to Temporal, starting the embedded dev server when the user named none, and running
// an in-process worker when nobody polls the task queue.
import { buildId, DEPLOYMENT_NAME } from '../workers/version';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { TASK_QUEUE } from '../contract/run-types';
import type { ClientConfig } from './config';
import { isListening, startDevServerInBackground } from './dev-server';
import { startTracing, tracesUrl } from '../telemetry/tracing';

export async function connect(cfg: ClientConfig, opts: { startServer: boolean; log?: (line: string) => void }): Promise<Client> {
  if (!cfg.explicitAddress && opts.startServer) {
    const [host, port] = splitAddress(cfg.address);
    if (!(await isListening(host, port))) {
      opts.log?.(`starting the Temporal dev server (state in ${cfg.dataDir}/temporal.db, UI ${cfg.uiUrl})`);
      await startDevServerInBackground({ dataDir: cfg.dataDir, port });
    }
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: cfg.address, connectTimeout: '5 seconds' });
  } catch (err) {
    throw new TemporalUnreachableError(cfg, err as Error);
  }
  return new Client({ connection, namespace: cfg.namespace, interceptors: clientInterceptors() });
}

/** Nothing answers at the server's address: says which address, and how to get a server there. */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(cfg: ClientConfig, cause: Error) {
    const how = cfg.explicitAddress
      ? 'check TEMPORAL_ADDRESS, or unset it to use the local dev server'
      : 'start it with `agentvisor server` (`agentvisor run` starts it by itself), or set TEMPORAL_ADDRESS to your cluster';
    super(`cannot reach the Temporal server at ${cfg.address} (${cause.message}): ${how}`, { cause });
  }
}

/** With tracing on, starting a run opens its trace; the worker's spans join it through the headers. */
function clientInterceptors() {
  const url = tracesUrl();
  if (!url) return undefined;
  startTracing('agentvisor', url);
  const { OpenTelemetryWorkflowClientInterceptor } =
    require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}

export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i) || '127.0.0.1', Number(address.slice(i + 1)) || 7233];
}

/**
 * True when the server lists pollers of the task queue that run this code (workers/version.ts):
 * only they can take a run this process starts. They may be stale (the server remembers a dead
 * worker for a few minutes), so callers treat true as "maybe" and false as "surely nobody".
 */
export async function hasPollers(client: Client, taskQueue = TASK_QUEUE): Promise<boolean> {
  return (await pollerBuilds(client, taskQueue)).includes(buildId());
}

/** The build ids of the workers polling the task queue ('unversioned' for a worker of an older agentvisor). */
export async function pollerBuilds(client: Client, taskQueue = TASK_QUEUE): Promise<string[]> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return [
    ...new Set(
      (response.pollers ?? []).map(
        (p) => (p.deploymentOptions?.deploymentName === DEPLOYMENT_NAME && p.deploymentOptions.buildId) || 'unversioned',
      ),
    ),
  ];
}
