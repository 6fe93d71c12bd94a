// The TypeScript API: what the CLI does, for scripts.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadGraphFile } from '../graph/load';
import { BadInputError, type Problem } from '../graph/problems';
import { SAFE_ID } from '../graph/graph-checks';
import type { GraphSpec } from '../graph/types';
import { TASK_QUEUE, type RunInput, type RunReport } from '../contract/run-types';
import type { runGraph } from '../workflows';
import { loadConfig, runUiLink, type ClientConfig } from './config';
import { runArtifactsDir } from '../paths/data-folder';
import { ledgerPath, reportPath, runFilePath, runWorkerLogPath } from '../paths/run-folder';
import { markdownRow } from '../contract/text-safety';
import { connect } from './connection';
import { launchWorkflow } from './launch';
import { getRunReport } from './run-state';
import { allImagesPresent } from './image-presence';
import { checkAgents, checkGateway, checkImages, checkRepository, imagesOf } from './preflight';
import { checkRemote } from './remote-check';
import { scopeOf } from '../runtimes/runtime';
import * as SA from '../contract/search-attributes';
import { workerVersion } from '../workers/version';

export type { RunReport } from '../contract/run-types';
export { NoCompatibleWorkerError, launchWorkflow, pickedUp, spawnBackgroundWorker, startInProcessWorker } from './launch';
export { BadInputError } from '../graph/problems';

export interface ValidateOptions {
  runId?: string;
  /** also check that the images are on the Docker engine (run does; validate does not need it) */
  images?: boolean;
  docker?: Docker;
}

/** Every problem with a graph file: schema, structure, repository, credentials (and images). */
export async function validateGraphFile(file: string, opts: ValidateOptions = {}): Promise<{ graph?: GraphSpec; problems: Problem[] }> {
  const loaded = loadGraphFile(file);
  if (!loaded.graph) return loaded;
  const graph = loaded.graph;
  // a run with a remote reads no local repository, and its images are on the hosts' engines
  const repository = graph.remote ? checkRemote(graph, opts.runId) : checkRepository(graph, opts.runId);
  const problems = [...(await repository), ...checkAgents(graph), ...checkGateway(graph)];
  if (graph.remote) opts = { ...opts, images: false };
  if (opts.runId !== undefined && !SAFE_ID.test(opts.runId)) {
    problems.push({ message: `run id "${opts.runId}" is not a safe branch/file name (letters, digits, - and _)` });
  }
  if (problems.length === 0 && opts.images) {
    const images = imagesOf(graph);
    // the light check first: dockerode is loaded only to word an error, build or pull
    if (opts.docker || !(await allImagesPresent(images))) {
      const docker = opts.docker ?? new (await import('dockerode')).default();
      problems.push(...(await checkImages(docker, images)));
    }
  }
  const located = problems.map((p) => ({ ...p, ...(p.path ? loaded.locate?.(p.path) : {}) }));
  return { graph: located.length ? undefined : graph, problems: located };
}

export function newRunId(graphName: string): string {
  const slug =
    graphName
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 30) || 'run';
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${slug}-${stamp}-${randomBytes(2).toString('hex')}`;
}

export interface StartOptions {
  runId?: string;
  /**
   * Who executes the run when no worker serves the task queue: this process (until the run ends),
   * a background worker process that outlives it (for --detach), or nobody (wait for a worker).
   */
  worker?: 'in-process' | 'background' | 'none';
  keepOnFailure?: boolean;
  config?: ClientConfig;
  log?: (line: string) => void;
  /** set by resumeRun */
  resume?: RunInput['resume'];
}

export interface StartedRun {
  runId: string;
  client: Client;
  uiLink?: string;
  /** set when this process runs the worker; stop it once the run is over */
  stopWorker?: () => Promise<void>;
}

/** Validates (exit-2 problems throw BadInputError before anything is created) and starts the run. */
export async function startRun(file: string, opts: StartOptions = {}): Promise<StartedRun> {
  const cfg = opts.config ?? loadConfig();
  const { graph, problems } = await validateGraphFile(file, { runId: opts.runId, images: true });
  if (!graph) throw new BadInputError(problems, file);
  // the worker this process may start reads its default limits from the environment: bad ones
  // are refused now, before anything is made
  if ((opts.worker ?? 'in-process') !== 'none') {
    (await import('../activities/limits')).workerLimits({}, process.env);
    (await import('../activities/workspace-overlay')).workspaceMode('docker');
  }
  const runId = opts.runId ?? newRunId(graph.name);
  const input: RunInput = {
    runId,
    graph,
    artifactsDir: runArtifactsDir(cfg.dataDir, runId),
    keepOnFailure: opts.keepOnFailure ?? false,
    resume: opts.resume,
  };
  // What resume needs to find this run again, even after its Temporal history is gone.
  const createdDir = !existsSync(input.artifactsDir);
  mkdirSync(input.artifactsDir, { recursive: true });
  writeFileSync(
    runFilePath(input.artifactsDir),
    JSON.stringify(
      {
        runId,
        graphFile: path.resolve(file),
        graphName: graph.name,
        repo: graph.repo,
        scope: scopeOf(cfg.namespace, cfg.address),
        resumedFrom: opts.resume?.fromRunId,
      },
      null,
      2,
    ) + '\n',
  );
  const harnesses = [...new Set(Object.values(graph.agents).map((a) => a.harness))];
  const { client, stopWorker } = await launchWorkflow(
    cfg,
    { ...opts, hostsNeeded: !!graph.remote },
    { dir: input.artifactsDir, created: createdDir, workerLog: runWorkerLogPath(input.artifactsDir) },
    (client, searchAttributes) => {
      input.searchAttributes = searchAttributes;
      return client.workflow.start<typeof runGraph>('runGraph', {
        workflowId: runId,
        taskQueue: TASK_QUEUE,
        // only workers of this code take the run (workers/version.ts)
        versioningOverride: { pinnedTo: workerVersion() },
        args: [input],
        staticSummary: `${graph.name}: ${graph.tasks.length} task${graph.tasks.length === 1 ? '' : 's'} on ${path.basename(graph.repo)}${opts.resume ? ` (resumes ${opts.resume.fromRunId})` : ''}`,
        staticDetails: graphDetails(graph),
        typedSearchAttributes: input.searchAttributes
          ? [
              { key: SA.GRAPH, value: graph.name },
              { key: SA.REPO, value: graph.repo },
              { key: SA.STATUS, value: 'running' },
              { key: SA.HARNESSES, value: harnesses },
              { key: SA.COST, value: 0 },
            ]
          : undefined,
        memo: { graphName: graph.name, repo: graph.repo, artifactsDir: input.artifactsDir, graphFile: path.resolve(file) },
      });
    },
  );
  return { runId, client, uiLink: runUiLink(cfg, runId), stopWorker };
}

export interface ResumeOptions extends StartOptions {
  /** the graph file to use; default: the one the earlier run was started from */
  file?: string;
}

/**
 * A new run of the earlier run's graph, from the same base commit, that reuses every task whose
 * work the earlier run recorded (and that did not change since) and redoes the rest. It needs only
 * the earlier run's artifact folder and the repository, not its Temporal history.
 */
export async function resumeRun(fromRunId: string, opts: ResumeOptions = {}): Promise<StartedRun> {
  const cfg = opts.config ?? loadConfig();
  const fromArtifactsDir = runArtifactsDir(cfg.dataDir, fromRunId);
  const runFile = runFilePath(fromArtifactsDir);
  if (!existsSync(runFile)) {
    throw new BadInputError([{ message: `no run "${fromRunId}" to resume: ${runFile} does not exist` }]);
  }
  const earlier = JSON.parse(readFileSync(runFile, 'utf8')) as { graphFile: string; experiment?: string };
  if (earlier.experiment && !opts.file) {
    throw new BadInputError([
      {
        message: `run "${fromRunId}" is a cell of experiment "${earlier.experiment}": resume the experiment (agentvisor experiment FILE --resume ${earlier.experiment})`,
      },
    ]);
  }
  const file = opts.file ?? earlier.graphFile;
  const client = await connect(cfg, { startServer: true, log: opts.log });
  let baseCommit = earlierBaseCommit(fromArtifactsDir);
  try {
    const d = await client.workflow.getHandle(fromRunId).describe();
    if (d.status.name === 'RUNNING') throw new BadInputError([{ message: `run "${fromRunId}" is still running; cancel it first` }]);
    // a run with a remote keeps its ledger on the remote and may have written its report on
    // another machine: its base commit is in its history
    baseCommit ??= (await getRunReport(client, fromRunId, cfg)).baseCommit;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err; // history gone: the ledger is enough
  } finally {
    await client.connection.close();
  }
  return startRun(file, { ...opts, config: cfg, resume: { fromRunId, fromArtifactsDir, baseCommit } });
}

/** The earlier run's base commit, from its ledger or its report; undefined: use the base branch. */
function earlierBaseCommit(dir: string): string | undefined {
  const ledger = ledgerPath(dir);
  if (existsSync(ledger)) {
    const first = readFileSync(ledger, 'utf8').split('\n').find(Boolean);
    if (first) return (JSON.parse(first) as { baseCommit: string }).baseCommit;
  }
  const report = reportPath(dir);
  if (existsSync(report)) return (JSON.parse(readFileSync(report, 'utf8')) as RunReport).baseCommit;
  return undefined;
}

/** The graph as markdown, for the run's static details in the Temporal UI. */
function graphDetails(graph: GraphSpec): string {
  const rows = graph.tasks.map((t) => markdownRow([t.id, `${t.agent} (${graph.agents[t.agent].harness})`, t.after.join(', ')]));
  return [
    `repo \`${graph.repo}\`, base \`${graph.baseBranch}\``,
    '',
    markdownRow(['task', 'agent', 'after']),
    '|---|---|---|',
    ...rows,
  ].join('\n');
}

/** Waits for the run to end and returns its final report (failed runs too). */
export async function waitForRun(client: Client, runId: string, cfg?: ClientConfig): Promise<RunReport> {
  try {
    await client.workflow.getHandle(runId).result();
  } catch {
    // failed or cancelled: the report says how
  }
  return getRunReport(client, runId, cfg);
}

/** Asks the run to cancel; a run that is over, or not there, is bad input (the server would accept the request and do nothing). */
export async function cancelRun(client: Client, runId: string): Promise<void> {
  const handle = client.workflow.getHandle(runId);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new BadInputError([{ message: `no run with id "${runId}"` }]);
    throw err;
  }
  if (status !== 'RUNNING') throw new BadInputError([{ message: `run "${runId}" is ${status.toLowerCase()}, not running` }]);
  await handle.cancel();
}

export interface RunSummary {
  runId: string;
  /** as `status` says it: running, awaiting_approval, completed, failed, cancelled (or terminated, timed_out) */
  status: string;
  graphName?: string;
  startTime?: Date;
  closeTime?: Date;
  /** the run's cost so far (the AgentvisorCostUsd search attribute), when the namespace has it */
  costUsd?: number;
}

export interface ListFilter {
  status?: string;
  graph?: string;
  limit?: number;
}

/** The statuses `ls --status` takes, as `status` shows them, and the execution status each is found by. */
export const LIST_STATUSES: Record<string, string> = {
  running: 'Running',
  awaiting_approval: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  terminated: 'Terminated',
  timed_out: 'TimedOut',
};

/** A run's status as `status` shows it: a running run waiting at a gate is awaiting_approval (its search attribute says so). */
function shownStatus(executionStatus: string, agentvisorStatus: string | undefined): string {
  if (executionStatus === 'RUNNING') return agentvisorStatus === 'awaiting_approval' ? 'awaiting_approval' : 'running';
  if (executionStatus === 'CANCELLED') return 'cancelled';
  return executionStatus.toLowerCase();
}

/** Runs, newest first; filters by status and graph name (the graph filter needs the search attributes). */
export async function listRuns(client: Client, filter: ListFilter = {}): Promise<RunSummary[]> {
  const clauses = [`WorkflowType = 'runGraph'`];
  const wanted = filter.status?.toLowerCase().replace('canceled', 'cancelled');
  if (wanted !== undefined) {
    const status = LIST_STATUSES[wanted];
    if (!status)
      throw new BadInputError([{ message: `unknown status "${filter.status}" (one of ${Object.keys(LIST_STATUSES).join(', ')})` }]);
    clauses.push(`ExecutionStatus = '${status}'`);
  }
  if (filter.graph) clauses.push(`${SA.GRAPH.name} = '${filter.graph.replace(/'/g, "''")}'`);
  const runs: RunSummary[] = [];
  for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
    const status = shownStatus(wf.status.name, wf.typedSearchAttributes.get(SA.STATUS));
    // running and awaiting_approval are one execution status: told apart here, not in the query,
    // so that a namespace without the search attributes still lists them
    if (wanted && status !== wanted) continue;
    runs.push({
      runId: wf.workflowId,
      status,
      graphName: wf.memo?.graphName as string | undefined,
      startTime: wf.startTime,
      closeTime: wf.closeTime,
      costUsd: wf.typedSearchAttributes.get(SA.COST),
    });
    if (runs.length >= (filter.limit ?? 50)) break;
  }
  return runs;
}

export { connect, loadConfig, runUiLink };
export { getRunReport } from './run-state';
export { addTasks, approveGate, rejectGate } from './coordination';
export { resolveRunId, splitRunRef } from './run-ids';
export { checkoutRun, mergeRun, runDiff, workRange, type CheckoutResult, type MergeResult, type WorkRange } from './run-results';
export { removeRun, type RemovedRun } from './remove-run';
export {
  getExperimentReport,
  isExperiment,
  listExperiments,
  newExperimentId,
  startExperiment,
  validateExperimentFile,
  waitForExperiment,
  type ExperimentOptions,
  type StartedExperiment,
} from './experiment';
export { writeExperimentResults } from '../experiment/results';
