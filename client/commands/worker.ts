// agentvisor worker: execute runs and their agents, on the local Docker engine or in Kubernetes.
import type { Command } from 'commander';
import * as path from 'node:path';
import { loadConfig } from '../api';
import { runtimeFromFlags, type RuntimeFlags } from '../../runtimes/select';
import type { LimitFlags } from '../../activities/limits';
import { action, ExitCode, printStderr } from './shared';
import { BadInputError } from '../../graph/problems';
import type { LogFormat } from '../../telemetry/log-format';

type WorkerFlags = {
  logFormat?: string;
  metricsPort?: string;
  host?: string;
  labels?: string;
  capacity?: string;
  dataDir?: string;
} & RuntimeFlags &
  LimitFlags;

export function registerWorkerCommand(program: Command): void {
  program
    .command('worker')
    .option('--log-format <format>', 'json (JSON lines) or human (a short line each); default: human on a terminal, json when piped')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port (/metrics)')
    .option('--host <name>', "the host this worker serves: it also polls the host's own task queue (graphs place work with runsOn)")
    .option('--labels <labels>', 'labels of the host, comma-separated (e.g. gpu,big-memory); at most 4')
    .option('--capacity <n>', "agents the host runs at once (its queue's slots); default AGENTVISOR_WORKER_CAPACITY or 32")
    .option(
      '--data-dir <dir>',
      "this worker's data folder for runs with a remote: its clones, worktrees and logs (default AGENTVISOR_HOME)",
    )
    .option('--runtime <runtime>', 'where agents run: docker (the local engine, default) or kubernetes (a Job per agent)')
    .option('--namespace <name>', "with --runtime kubernetes: the namespace of the Jobs (default: the pod's own, in a cluster)")
    .option('--kubeconfig <file>', 'with --runtime kubernetes: the kubeconfig (default KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--image-pull-policy <policy>', 'with --runtime kubernetes: Always, IfNotPresent (default) or Never')
    .option('--memory <size>', 'default memory limit of a container, /tmp and HOME included (default AGENTVISOR_LIMIT_MEMORY or 4g)')
    .option('--cpus <n>', 'default CPU cores of a container (default AGENTVISOR_LIMIT_CPUS or 2)')
    .option('--pids <n>', 'default process limit of a container (default AGENTVISOR_LIMIT_PIDS or 512)')
    .option('--disk <size>', 'default size of a workspace, or off (default AGENTVISOR_LIMIT_DISK or 10g; needs root and loop devices)')
    .option(
      '--network-range <cidr>',
      "with --runtime docker: the IPv4 range agents' networks take their /29 subnets from (default AGENTVISOR_NETWORK_RANGE or 10.213.0.0/16)",
    )
    .description('run a worker: executes runs and their agents on the local Docker engine or in a Kubernetes namespace')
    .action(action(runWorker));
}

async function runWorker(opts: WorkerFlags) {
  const cfg = loadConfig();
  const { LOG_FORMATS, defaultLogFormat } = await import('../../telemetry/log-format');
  const { logLevelFrom } = await import('../../telemetry/logger');
  const format = opts.logFormat ?? defaultLogFormat(process.stderr);
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new BadInputError([{ message: `--log-format must be ${LOG_FORMATS.join(' or ')}, not "${format}"` }]);
  }
  const { hostOptions } = await import('../../workers/host');
  const { workerLimits, describeLimits } = await import('../../activities/limits');
  const limits = workerLimits(opts, process.env);
  const host = hostOptions(opts, Number(process.env.AGENTVISOR_WORKER_CAPACITY) || 32);
  const runtime = await runtimeFromFlags(opts);
  // a bad AGENTVISOR_WORKSPACE is refused now (exit 2)
  const workspaces = (await import('../../activities/workspace-overlay')).workspaceMode(runtime.kind);
  const { createWorker } = await import('../../workers/worker');
  const { worker, connection, hostWorkers } = await createWorker({
    runtime,
    address: cfg.address,
    namespace: cfg.namespace,
    logLevel: logLevelFrom(process.env.AGENTVISOR_LOG_LEVEL, 'INFO'),
    log: { format: format as LogFormat },
    metricsAddress: opts.metricsPort ? `0.0.0.0:${opts.metricsPort}` : undefined,
    host,
    dataDir: opts.dataDir ? path.resolve(opts.dataDir) : undefined,
    limits,
  });
  const where = host
    ? ` as host ${host.name}${host.labels.length ? ` (labels ${host.labels.join(', ')})` : ''}, capacity ${host.capacity}`
    : '';
  printStderr(
    `worker polling ${cfg.address} (namespace ${cfg.namespace})${where}, agents on ${runtime.kind}; default limits: ${describeLimits(limits)}; workspaces: ${workspaces}`,
  );
  // the SDK shuts every worker down on SIGINT/SIGTERM
  await Promise.all([worker.run(), ...hostWorkers.map((w) => w.run())]);
  await connection.close();
  return ExitCode.success;
}
