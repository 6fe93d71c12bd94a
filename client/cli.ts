// The agentvisor command line. Exit codes: 0 success, 1 the run failed, 2 bad input or usage.
import type { Client } from '@temporalio/client';
import { Command, CommanderError, Option } from 'commander';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { formatProblem } from '../spec/problems';
import { BadInputError } from '../spec/problems';
import {
  cancelRun,
  connect,
  getRunReport,
  listRuns,
  loadConfig,
  resumeRun,
  runUiLink,
  startRun,
  type StartOptions,
  type StartedRun,
  validateGraphFile,
  waitForRun,
} from './api';
import { runArtifactsDir, type ClientConfig } from './config';
import { runDevServer } from './dev-server';
import { addCoordinationCommands } from './cli-coordination';
import { formatUsd, ProgressView, renderTable } from './progress';
import { describeResolution, isLive, type RunReport } from '../workflows/run-types';
import { terminalText as tty } from '../workflows/text-safety';
import { currentTracing } from '../telemetry/tracing';
import { runtimeFromFlags, type RuntimeFlags } from '../runtimes/select';
import type { LimitFlags } from '../activities/limits';

const err = (line: string) => process.stderr.write(line + '\n');

function publicReport(r: RunReport) {
  return {
    runId: r.runId,
    graphName: r.graphName,
    status: r.status,
    integrationBranch: r.integrationBranch,
    baseCommit: r.baseCommit,
    error: r.error,
    tasks: r.tasks.map((t) => ({
      id: t.id,
      agent: t.agent,
      status: t.status,
      branch: t.branch,
      commit: t.commit,
      filesChanged: t.filesChanged,
      insertions: t.insertions,
      deletions: t.deletions,
      logPath: t.logPath,
      exitCode: t.exitCode,
      error: t.error,
      usage: t.usage,
      reusedFrom: t.reusedFrom,
      note: t.note,
      addedBy: t.addedBy,
      host: t.host,
      startedAt: t.startedAt,
      finishedAt: t.finishedAt,
    })),
    merge: { status: r.merge.status, commit: r.merge.commit, conflicts: r.merge.conflicts, host: r.merge.host },
    evaluation: r.evaluation,
    shared: r.shared,
    approvals: r.approvals,
    proposals: r.proposals,
    artifactsDir: r.artifactsDir,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}

/** The run's state in lines; what agents could have written (errors, file names, proposals) without escape sequences. */
function printSummary(report: RunReport, cfg: ClientConfig) {
  const link = runUiLink(cfg, report.runId);
  console.log(`run ${report.runId}: ${report.status}${report.error ? ` (${tty(report.error)})` : ''}`);
  if (report.status === 'completed') console.log(`integration branch: ${report.integrationBranch}`);
  if (report.shared) {
    const access = Object.entries(report.shared.access).map(([agent, mode]) => `${agent} ${mode}`).join(', ');
    console.log(`shared workspace: ${report.shared.removed ? '(removed by the rollback) ' : ''}${report.shared.path} (at ${report.shared.mount}: ${access})`);
  }
  for (const a of report.approvals ?? []) {
    if (a.status === 'waiting') console.log(`awaiting approval: ${a.gate} (agentvisor approve ${report.runId} ${a.gate}, or reject ${report.runId} ${a.gate} --reason …)`);
    else console.log(`approval of ${a.gate}: ${a.status}${a.timedOut ? ' (timed out)' : ''}${a.reason ? `: ${tty(a.reason)}` : ''}`);
  }
  for (const p of report.proposals ?? []) {
    const tasks = p.tasks.length ? ` (${tty(p.tasks.join(', '))})` : '';
    console.log(`proposal ${tty(p.file) || '(drop folder)'} of ${p.by}${tasks}: ${p.status}${p.reason ? `: ${tty(p.reason)}` : ''}`);
  }
  for (const c of report.merge.conflicts) {
    console.log(`conflict: task ${c.taskId}${c.conflictsWith.length ? ` with ${c.conflictsWith.join(', ')}` : ''} in ${tty(c.files.join(', '))}${tty(describeResolution(c.resolution))}`);
  }
  if (link) console.log(`Temporal UI: ${link}`);
}

type RunFlags = { detach?: boolean; json?: boolean; id?: string; keepOnFailure?: boolean; file?: string };

const runCommand = (file: string, opts: RunFlags) => followRun(opts, (o) => startRun(file, o));
const resumeCommand = (runId: string, opts: RunFlags) => followRun(opts, (o) => resumeRun(runId, { ...o, file: opts.file }));

/** Starts a run (or resume) and, unless detached, shows its progress until it ends. */
async function followRun(opts: RunFlags, start: (o: StartOptions) => Promise<StartedRun>) {
  const cfg = loadConfig();
  const started = await start({
    runId: opts.id,
    keepOnFailure: opts.keepOnFailure,
    config: cfg,
    log: err,
    worker: opts.detach ? 'background' : 'in-process',
  });
  const { client, runId } = started;
  if (opts.detach) {
    if (opts.json) console.log(JSON.stringify({ runId, status: 'running', uiLink: started.uiLink }));
    else console.log(`run ${runId} started${started.uiLink ? `: ${started.uiLink}` : ''}`);
    return 0;
  }
  if (!opts.json) console.log(`run ${runId}${started.uiLink ? `   Temporal UI: ${started.uiLink}` : ''}`);
  // Progress is polled only when shown (not with --json); the end of the run wakes the poll's
  // sleep, so the CLI exits as soon as the run is over rather than up to a second later.
  const view = opts.json ? undefined : new ProgressView(process.stdout, client);
  let polling = !!view;
  let wake = () => {};
  const poll = (async () => {
    while (polling) {
      try {
        const report = await getRunReport(client, runId, cfg);
        if (!polling) break;
        view?.update(report);
        if (!isLive(report.status)) break;
      } catch {
        // the run may be between states; try again
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  })();
  const stopPolling = async () => {
    polling = false;
    wake();
    await poll;
  };
  try {
    const report = await waitForRun(client, runId, cfg);
    await stopPolling();
    view?.update(report);
    if (opts.json) console.log(JSON.stringify(publicReport(report), null, 2));
    else printSummary(report, cfg);
    return report.status === 'completed' ? 0 : 1;
  } finally {
    await stopPolling();
    await started.stopWorker?.();
    await client.connection.close();
  }
}

function readLogs(dir: string, task?: string): string[] {
  const logs = path.join(dir, 'logs');
  if (!existsSync(logs)) return [];
  const files = readdirSync(logs).filter((f) => f.endsWith('.log')).sort();
  return task ? files.filter((f) => f === `${task}.log`).map((f) => path.join(logs, f)) : files.map((f) => path.join(logs, f));
}

async function logsCommand(runId: string, task: string | undefined, opts: { follow?: boolean }) {
  const cfg = loadConfig();
  const dir = runArtifactsDir(cfg.dataDir, runId);
  if (!existsSync(dir)) throw new BadInputError([{ message: `no artifacts for run "${runId}" in ${cfg.dataDir}/runs` }]);
  const offsets = new Map<string, number>();
  const printNew = () => {
    for (const file of readLogs(dir, task)) {
      const size = statSync(file).size;
      const from = offsets.get(file) ?? 0;
      if (size <= from) continue;
      const text = readFileSync(file).subarray(from, size).toString('utf8');
      offsets.set(file, size);
      const prefix = task ? '' : `[${path.basename(file, '.log')}] `;
      process.stdout.write(text.split('\n').map((l, i, all) => (i === all.length - 1 && l === '' ? '' : prefix + l)).join('\n'));
    }
  };
  printNew();
  if (!opts.follow) return 0;
  const client = await connect(cfg, { startServer: false });
  try {
    for (;;) {
      const description = await client.workflow.getHandle(runId).describe();
      printNew();
      if (description.status.name !== 'RUNNING') return 0;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await client.connection.close();
  }
}

/** A command's connection to Temporal (never starting a server), closed when it is done. */
async function withClient<T>(fn: (client: Client, cfg: ClientConfig) => Promise<T>): Promise<T> {
  const cfg = loadConfig();
  const client = await connect(cfg, { startServer: false });
  try {
    return await fn(client, cfg);
  } finally {
    await client.connection.close();
  }
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('agentvisor')
    .description('Run task graphs of isolated AI coding agents on Temporal, Docker and git')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .option('--otel-endpoint <url>', 'export OpenTelemetry traces to this OTLP/HTTP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT)')
    // set before any command connects, and inherited by the workers a run starts
    .hook('preAction', () => {
      const { otelEndpoint } = program.opts<{ otelEndpoint?: string }>();
      if (otelEndpoint) process.env.OTEL_EXPORTER_OTLP_ENDPOINT = otelEndpoint;
    });
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) =>
      setExit(await fn(...args));

  program
    .command('run')
    .argument('<file>', 'task graph (YAML)')
    .option('--detach', 'start the run and return')
    .option('--json', 'print the result as one JSON object')
    .option('--id <id>', 'run id (default: graph name, time and a random suffix)')
    .option('--keep-on-failure', 'leave branches, worktrees and containers of a failed run for debugging')
    .description('run a task graph')
    .action(action(runCommand));

  program
    .command('resume')
    .argument('<run>', 'id of a failed or cancelled run')
    .option('--file <file>', 'graph file to use (default: the one the run was started from)')
    .option('--detach', 'start the run and return')
    .option('--json', 'print the result as one JSON object')
    .option('--id <id>', 'id of the new run')
    .option('--keep-on-failure', 'leave branches, worktrees and containers of a failed run for debugging')
    .description('run a graph again, reusing the work an earlier run finished and redoing the rest')
    .action(action(resumeCommand));

  program
    .command('validate')
    .argument('<file>', 'task graph (YAML)')
    .description('check a task graph and its repository without running anything')
    .action(
      action(async (file: string) => {
        const { problems } = await validateGraphFile(file);
        if (problems.length) throw new BadInputError(problems, file);
        console.log(`${file}: ok`);
        return 0;
      }),
    );

  program
    .command('status')
    .argument('<run>', 'run id')
    .option('--json', 'print one JSON object')
    .option('-w, --watch', 'keep showing progress until the run ends')
    .description('show the state of a run')
    .action(
      action((runId: string, opts: { json?: boolean; watch?: boolean }) =>
        withClient(async (client, cfg) => {
        let report = await getRunReport(client, runId, cfg);
        if (opts.watch && !opts.json) {
          const view = new ProgressView(process.stdout, client);
          while (isLive(report.status)) {
            view.update(report);
            await new Promise((r) => setTimeout(r, 1000));
            report = await getRunReport(client, runId, cfg);
          }
          view.update(report);
          printSummary(report, cfg);
          return report.status === 'completed' ? 0 : 1;
        }
        if (opts.json) console.log(JSON.stringify(publicReport(report), null, 2));
        else {
          console.log(renderTable(report, !!process.stdout.isTTY));
          printSummary(report, cfg);
        }
        return 0;
        }),
      ),
    );

  program
    .command('report')
    .argument('<run>', 'run id')
    .option('--out <dir>', 'folder to write into (default: the run’s artifact folder)')
    .description('write a self-contained HTML report (and a markdown summary) of a run')
    .action(
      action((runId: string, opts: { out?: string }) =>
        withClient(async (client, cfg) => {
        const { writeRunReport } = await import('./report');
        const files = writeRunReport(await getRunReport(client, runId, cfg), undefined, opts.out);
        console.log(`${files.html}\n${files.markdown}`);
        return 0;
        }),
      ),
    );

  program
    .command('setup')
    .description("register agentvisor's search attributes on the Temporal namespace (for filtering runs in the UI)")
    .action(
      action(() =>
        withClient(async (client, cfg) => {
        const { registerSearchAttributes } = await import('./setup');
        const result = await registerSearchAttributes(client);
        if ('error' in result) {
          err(`error: ${result.error}`);
          return 1;
        }
        console.log(`search attributes registered: ${result.registered.join(', ') || 'none needed'}; present: ${result.present.join(', ') || 'none'}`);
        return 0;
        }),
      ),
    );

  program
    .command('ls')
    .option('--json', 'print JSON')
    .option('--status <status>', 'running, completed, failed, cancelled, terminated')
    .option('--graph <name>', 'only runs of this graph')
    .option('--limit <n>', 'at most this many', '50')
    .description('list runs, newest first')
    .action(
      action((opts: { json?: boolean; status?: string; graph?: string; limit: string }) =>
        withClient(async (client, cfg) => {
        const runs = await listRuns(client, { status: opts.status, graph: opts.graph, limit: Number(opts.limit) });
        if (opts.json) console.log(JSON.stringify(runs, null, 2));
        else for (const r of runs) console.log(`${r.runId}\t${r.status}\t${r.graphName ?? ''}\t${r.startTime?.toISOString() ?? ''}\t${r.costUsd !== undefined ? formatUsd(r.costUsd) : ''}`);
        return 0;
        }),
      ),
    );

  program
    .command('logs')
    .argument('<run>', 'run id')
    .argument('[task]', 'task id (default: every task and the evaluation)')
    .option('-f, --follow', 'keep printing while the run goes on')
    .description("print agents' output")
    .action(action(logsCommand));

  program
    .command('cancel')
    .argument('<run>', 'run id')
    .description('cancel a run; its work is rolled back unless it was started with --keep-on-failure')
    .action(
      action((runId: string) =>
        withClient(async (client, cfg) => {
        await cancelRun(client, runId);
        console.log(`cancel requested for ${runId}`);
        return 0;
        }),
      ),
    );

  addCoordinationCommands(program, action, withClient);

  program
    .command('worker')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port (/metrics)')
    .option('--host <name>', "the host this worker serves: it also polls the host's own task queue (graphs place work with runsOn)")
    .option('--labels <labels>', 'labels of the host, comma-separated (e.g. gpu,big-memory); at most 4')
    .option('--capacity <n>', "agents the host runs at once (its queue's slots); default AGENTVISOR_WORKER_CAPACITY or 32")
    .option('--data-dir <dir>', "this worker's data folder for runs with a remote: its clones, worktrees and logs (default AGENTVISOR_HOME)")
    .option('--runtime <runtime>', 'where agents run: docker (the local engine, default) or kubernetes (a Job per agent)')
    .option('--namespace <name>', 'with --runtime kubernetes: the namespace of the Jobs (default: the pod\'s own, in a cluster)')
    .option('--kubeconfig <file>', 'with --runtime kubernetes: the kubeconfig (default KUBECONFIG, ~/.kube/config, or in-cluster)')
    .option('--image-pull-policy <policy>', 'with --runtime kubernetes: Always, IfNotPresent (default) or Never')
    .option('--memory <size>', "default memory limit of a container, /tmp and HOME included (default AGENTVISOR_LIMIT_MEMORY or 4g)")
    .option('--cpus <n>', 'default CPU cores of a container (default AGENTVISOR_LIMIT_CPUS or 2)')
    .option('--pids <n>', 'default process limit of a container (default AGENTVISOR_LIMIT_PIDS or 512)')
    .option('--disk <size>', 'default size of a workspace, or off (default AGENTVISOR_LIMIT_DISK or 10g; needs root and loop devices)')
    .option('--network-range <cidr>', "with --runtime docker: the IPv4 range agents' networks take their /29 subnets from (default AGENTVISOR_NETWORK_RANGE or 10.213.0.0/16)")
    .description('run a worker: executes runs and their agents on the local Docker engine or in a Kubernetes namespace')
    .action(
      action(async (opts: { metricsPort?: string; host?: string; labels?: string; capacity?: string; dataDir?: string } & RuntimeFlags & LimitFlags) => {
        const cfg = loadConfig();
        const { hostOptions } = await import('../workers/host');
        const { workerLimits, describeLimits } = await import('../activities/limits');
        const limits = workerLimits(opts, process.env);
        const host = hostOptions(opts, Number(process.env.AGENTVISOR_WORKER_CAPACITY) || 32);
        const runtime = await runtimeFromFlags(opts);
        const { createWorker } = await import('../workers/worker');
        const { worker, connection, hostWorkers } = await createWorker({
          runtime,
          address: cfg.address,
          namespace: cfg.namespace,
          logLevel: (process.env.AGENTVISOR_LOG_LEVEL as 'INFO' | undefined) ?? 'INFO',
          metricsAddress: opts.metricsPort ? `0.0.0.0:${opts.metricsPort}` : undefined,
          host,
          dataDir: opts.dataDir ? path.resolve(opts.dataDir) : undefined,
          limits,
        });
        const where = host ? ` as host ${host.name}${host.labels.length ? ` (labels ${host.labels.join(', ')})` : ''}, capacity ${host.capacity}` : '';
        err(`worker polling ${cfg.address} (namespace ${cfg.namespace})${where}, agents on ${runtime.kind}; default limits: ${describeLimits(limits)}`);
        // the SDK shuts every worker down on SIGINT/SIGTERM
        await Promise.all([worker.run(), ...hostWorkers.map((w) => w.run())]);
        await connection.close();
        return 0;
      }),
    );

  program
    .command('hosts')
    .option('--json', 'print JSON')
    .description('list the workers polling each task queue, by host, and what each host runs now')
    .action(
      action((opts: { json?: boolean }) =>
        withClient(async (client) => {
          const { describeHosts, formatHosts } = await import('./hosts');
          const report = await describeHosts(client);
          console.log(opts.json ? JSON.stringify(report, null, 2) : formatHosts(report));
          return 0;
        }),
      ),
    );

  program
    .command('server')
    .option('--port <port>', 'gRPC port', '7233')
    .option('--ui-port <port>', 'Web UI port', '8233')
    .option('--retention <duration>', 'how long closed runs stay in Temporal (e.g. 30d, 720h)', process.env.AGENTVISOR_RETENTION ?? '30d')
    .description('run the Temporal dev server with its Web UI; state in ~/.agentvisor/temporal.db')
    .action(
      action(async (opts: { port: string; uiPort: string; retention: string }) => {
        const cfg = loadConfig();
        return runDevServer({ dataDir: cfg.dataDir, port: Number(opts.port), uiPort: Number(opts.uiPort), retention: opts.retention });
      }),
    );

  program
    .command('gc')
    .option('--dry-run', 'list what would be removed')
    .option('--branches', 'also delete the branches of runs that did not complete')
    .option('--json', 'print JSON')
    .option('--runtime <runtime>', 'the runtime to sweep: docker (default) or kubernetes')
    .option('--namespace <name>', 'with --runtime kubernetes: the namespace to sweep')
    .option('--kubeconfig <file>', 'with --runtime kubernetes: the kubeconfig (default KUBECONFIG, ~/.kube/config, or in-cluster)')
    .description('remove containers and worktrees that crashed runs left behind (never those of running runs)')
    .action(
      action(async (opts: { dryRun?: boolean; branches?: boolean; json?: boolean } & RuntimeFlags) => {
        const runtime = await runtimeFromFlags(opts);
        return withClient(async (client, cfg) => {
        const { collectGarbage } = await import('./gc');
        const { scopeOf } = await import('../runtimes/runtime');
        const report = await collectGarbage({ client, runtime, dataDir: cfg.dataDir, scope: scopeOf(cfg.namespace, cfg.address), dryRun: opts.dryRun, branches: opts.branches });
        if (opts.json) console.log(JSON.stringify(report, null, 2));
        else {
          const verb = opts.dryRun ? 'would remove' : 'removed';
          for (const c of report.containers) console.log(`${verb} container ${c}`);
          for (const n of report.networks) console.log(`${verb} network ${n}`);
          for (const w of report.worktrees) console.log(`${verb} worktree ${w}`);
          for (const b of report.branches) console.log(`${verb} branch ${b}`);
          for (const s of report.settled) console.log(`unmounted shared workspace ${s} (its files kept)`);
          if (report.skippedRunning.length) console.log(`left alone (running): ${report.skippedRunning.join(', ')}`);
          if (!report.containers.length && !report.networks.length && !report.worktrees.length && !report.branches.length) console.log('nothing to remove');
        }
        return 0;
        });
      }),
    );

  const images = program.command('images').description('agent images');
  images
    .command('build')
    .addOption(new Option('--mode <mode>', 'where the base comes from').choices(['auto', 'registry', 'offline']).default('auto'))
    .option('--force', 'rebuild even if the image exists')
    .option('--no-agents', 'only the base image, not the one with the agent CLIs')
    .description('build the agent images that are missing: the base image and the one with the agent CLIs')
    .action(
      action(async (opts: { mode: 'auto' | 'registry' | 'offline'; force?: boolean; agents: boolean }) => {
        const { buildBaseImage, ensureAgentsImage, imageExists, BASE_IMAGE, AGENTS_IMAGE } = await import('../images/build');
        const { default: Docker } = await import('dockerode');
        const docker = new Docker();
        if (!opts.force && (await imageExists(docker, BASE_IMAGE))) console.log(`${BASE_IMAGE} is present`);
        else console.log(`${BASE_IMAGE}: ${await buildBaseImage({ docker, mode: opts.mode, log: err })}`);
        if (opts.agents) console.log(`${AGENTS_IMAGE}: ${await ensureAgentsImage(docker, err, { force: opts.force })}`);
        return 0;
      }),
    );
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof BadInputError) {
      for (const p of e.problems) err(`error: ${formatProblem(e.file || 'input', p)}`);
      return 2;
    }
    err(`error: ${(e as Error).message}`);
    // the stack, for AGENTVISOR_LOG_LEVEL=DEBUG (structured, secrets redacted; loaded only here)
    const { createLogger, logLevelFrom } = await import('../telemetry/logger');
    createLogger({ component: 'cli', level: logLevelFrom(process.env.AGENTVISOR_LOG_LEVEL, 'WARN') }).debug({ err: e }, 'command failed');
    return 1;
  } finally {
    // spans still buffered (the run's start, an in-process worker's) go out before the process exits
    await currentTracing()?.shutdown();
  }
}

if (require.main === module) {
  main(process.argv).then((code) => process.exit(code));
}
