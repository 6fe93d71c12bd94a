// A worker: polls the run task queue and executes workflows and activities against one container
// runtime. `agentvisor worker` runs one; `agentvisor run` runs one in-process when none is polling.
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString, type WorkerOptions } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { workerActivities } from '../activities';
import { workerLimits, type ResolvedLimits } from '../activities/limits';
import { defaultDataDir } from '../paths/data-folder';
import { createHostWorkers, identityOf, type HostOptions } from './host';
import { deploymentOptions } from './version';
import { DockerRuntime } from '../runtimes/docker';
import { scopeOf, type ContainerRuntime } from '../runtimes/runtime';
import { TASK_QUEUE } from '../contract/run-types';
import { createLogger, TemporalPinoLogger } from '../telemetry/logger';
import type { LogFormat } from '../telemetry/log-format';
import { startTracing, tracesUrl, WORKFLOW_INTERCEPTORS_MODULE, type Tracing } from '../telemetry/tracing';

export interface AgentvisorWorkerOptions {
  address: string;
  namespace: string;
  taskQueue?: string;
  runtime?: ContainerRuntime;
  /** serve Prometheus metrics (the SDK's and agentvisor's) on this address, e.g. 0.0.0.0:9464 */
  metricsAddress?: string;
  /** SDK log level; the CLI keeps the SDK quiet unless asked */
  logLevel?: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /** where the logs go: a file (JSON lines), or stderr as JSON lines or lines for people; default stderr, JSON */
  log?: { file?: string; format?: LogFormat };
  /**
   * Signals on which the SDK shuts the worker down (default: SIGINT, SIGTERM, SIGQUIT, SIGUSR2). A
   * worker inside `run` passes none: the CLI decides what Ctrl-C does with its run.
   */
  shutdownSignals?: NodeJS.Signals[];
  /** OTLP/HTTP endpoint for traces; default: the OTEL_EXPORTER_OTLP_* variables; none: no tracing */
  otelEndpoint?: string;
  /** extra worker options (tests shorten shutdown, set identity, ...) */
  overrides?: Partial<WorkerOptions>;
  /** the host this worker serves (--host): it also polls the host's and its labels' queues */
  host?: HostOptions;
  /** where this worker keeps clones of remotes and the folders of their runs; default AGENTVISOR_HOME */
  dataDir?: string;
  /** default limits of its containers; default: AGENTVISOR_LIMIT_* or the built-in ones (activities/limits.ts) */
  limits?: ResolvedLimits;
}

export async function createWorker(
  opts: AgentvisorWorkerOptions,
): Promise<{ worker: Worker; connection: NativeConnection; tracing?: Tracing; hostWorkers: Worker[] }> {
  if (opts.logLevel || opts.metricsAddress || opts.log || opts.shutdownSignals)
    installRuntime({
      level: opts.logLevel ?? 'INFO',
      metricsAddress: opts.metricsAddress,
      log: opts.log,
      shutdownSignals: opts.shutdownSignals,
    });
  const url = tracesUrl(opts.otelEndpoint);
  const tracing = url ? startTracing('agentvisor-worker', url) : undefined;
  const code = workflowCode(!!tracing);
  const connection = await NativeConnection.connect({ address: opts.address });
  const activities = workerActivities({
    runtime: opts.runtime ?? new DockerRuntime(),
    scope: scopeOf(opts.namespace, opts.address),
    dataDir: opts.dataDir ?? defaultDataDir(),
    host: opts.host?.name,
    limits: opts.limits ?? workerLimits({}, process.env),
  });
  const worker = await Worker.create({
    connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue ?? TASK_QUEUE,
    workerDeploymentOptions: deploymentOptions(),
    ...code,
    ...(tracing ? tracingOptions(tracing, !code.workflowBundle) : {}),
    activities,
    ...(opts.host ? { identity: identityOf(opts.host) } : {}),
    // Heartbeats carry cancellation back to a running agent; do not hold them back long.
    maxHeartbeatThrottleInterval: '2 seconds',
    // A worker's capacity: 198 agents at once on 2 cores starved the event loop until heartbeats
    // timed out (BENCHMARKS.md, fan 200). Excess tasks wait in Temporal's queue instead.
    maxConcurrentActivityTaskExecutions: Number(process.env.AGENTVISOR_WORKER_CAPACITY) || 32,
    shutdownGraceTime: '10 seconds',
    ...opts.overrides,
  });
  const hostWorkers = opts.host ? await createHostWorkers({ connection, namespace: opts.namespace, host: opts.host, activities }) : [];
  return { worker, connection, tracing, hostWorkers };
}

/**
 * The bundle made at build time (dist/workflow-bundle.js, or -otel.js with the tracing workflow
 * interceptors) when there is one, else the sources.
 */
function workflowCode(traced: boolean): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const bundle = path.join(__dirname, '..', traced ? 'workflow-bundle-otel.js' : 'workflow-bundle.js');
  if (existsSync(bundle)) return { workflowBundle: { codePath: bundle } };
  return { workflowsPath: require.resolve('../workflows') };
}

/** Activity spans, and the sink through which the workflow interceptors export theirs. */
function tracingOptions(tracing: Tracing, fromSources: boolean): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  // loaded only here: workers that do not trace never load it
  const otel = require('@temporalio/interceptors-opentelemetry') as typeof import('@temporalio/interceptors-opentelemetry');
  return {
    interceptors: {
      // a bundle has its workflow interceptors built in; the sources get them bundled at start
      ...(fromSources ? { workflowModules: [require.resolve(WORKFLOW_INTERCEPTORS_MODULE)] } : {}),
      activity: [
        (ctx) => ({
          inbound: new otel.OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new otel.OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    sinks: { exporter: otel.makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}

let runtimeInstalled = false;
function installRuntime({
  level,
  metricsAddress,
  log,
  shutdownSignals,
}: {
  level: NonNullable<AgentvisorWorkerOptions['logLevel']>;
  metricsAddress?: string;
  log?: AgentvisorWorkerOptions['log'];
  shutdownSignals?: NodeJS.Signals[];
}) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    // one structured, redacting logger for the SDK, the core, workflows and activities
    Runtime.install({
      logger: new TemporalPinoLogger(createLogger({ component: 'worker', level, file: log?.file, format: log?.format })),
      ...(shutdownSignals ? { shutdownSignals } : {}),
      telemetryOptions: {
        // the core's INFO lines are poller chatter; its warnings and errors (or all, when debugging) come through
        logging: { filter: makeTelemetryFilterString({ core: level === 'INFO' ? 'WARN' : level }), forward: {} },
        ...(metricsAddress
          ? // dollars, not milliseconds: buckets from a cent to a hundred dollars per agent attempt
            {
              metrics: {
                prometheus: {
                  bindAddress: metricsAddress,
                  histogramBucketOverrides: { agentvisor_task_cost: [0.01, 0.1, 0.5, 1, 5, 10, 50, 100] },
                },
              },
            }
          : {}),
      },
    });
  } catch {
    // already installed by the embedding program: keep its logger
  }
}
