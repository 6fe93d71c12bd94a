// Experiments from the client's side: check the file (exit 2, nothing created), start the
// experiment workflow, and read its report. The workflow is workflows/run-experiment.ts.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { TASK_QUEUE, type RunInput } from '../contract/run-types';
import type { CellResult, ExperimentInput, ExperimentReport } from '../contract/experiment-types';
import { loadExperimentFile, type Experiment, type TrafficOption } from '../experiment/load';
import { needsGateway } from '../graph/gateway-needs';
import { BadInputError, type Problem } from '../graph/problems';
import { experimentDir, runArtifactsDir } from '../paths/data-folder';
import { experimentFiles } from '../paths/experiment-folder';
import { runFilePath } from '../paths/run-folder';
import { scopeOf } from '../runtimes/runtime';
import type { runExperiment } from '../workflows';
import { experimentStatusQuery } from '../workflows/messages';
import { workerVersion } from '../workers/version';
import { loadConfig, runUiLink, type ClientConfig } from './config';
import { connect } from './connection';
import { launchWorkflow, type LaunchOptions } from './launch';
import { checkAgents, checkGateway, checkImages, checkRepository, imagesOf } from './preflight';
import { allImagesPresent } from './image-presence';

export interface ExperimentOptions extends LaunchOptions {
  experimentId?: string;
  /** --record DIR / --replay DIR */
  traffic?: TrafficOption;
  /** resume: take this earlier experiment's completed cells (same graph) as they are, run the rest */
  resumeFrom?: string;
  config?: ClientConfig;
}

export interface StartedExperiment {
  experimentId: string;
  client: Client;
  resultsDir: string;
  cells: number;
  uiLink?: string;
  stopWorker?: () => Promise<void>;
}

/** Short enough that cell run ids (id-subject-arm-rN-cK) stay within 63 characters. */
export function newExperimentId(name: string): string {
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 12) || 'exp';
  return `${slug}-${randomBytes(3).toString('hex')}`;
}

/** Every problem with an experiment file and the graphs of its cells: the file, the repositories, credentials (and images). */
export async function validateExperimentFile(
  file: string,
  opts: { experimentId: string; images?: boolean; traffic?: TrafficOption },
): Promise<{ experiment?: Experiment; problems: Problem[] }> {
  const loaded = loadExperimentFile(file, opts.experimentId, opts.traffic);
  if (!loaded.experiment) return loaded;
  const experiment = loaded.experiment;
  const problems: Problem[] = [];
  if (opts.traffic && !experiment.cells.some((c) => needsGateway(c.runs[0].graph))) {
    problems.push({
      message: `--${opts.traffic.mode}: no agent of this experiment calls a model, so there is no traffic to ${opts.traffic.mode}`,
    });
  }
  const repos = new Set<string>();
  const graphs = new Set<string>();
  for (const cell of experiment.cells) {
    const { graph, yaml } = cell.runs[0];
    const where = `subject "${cell.subject}", arm "${cell.arm}"`;
    const key = `${graph.repo}\u0000${graph.baseBranch}`;
    if (!repos.has(key)) {
      repos.add(key);
      for (const p of await checkRepository(graph)) problems.push({ message: `subject "${cell.subject}": ${p.message}` });
    }
    // (each run has its own cassettes with --record or --replay: their gateway is checked per run)
    for (const run of opts.traffic ? cell.runs : [])
      for (const p of checkGateway(run.graph)) problems.push({ message: `${where}: ${p.message}` });
    if (graphs.has(yaml)) continue;
    graphs.add(yaml);
    for (const p of [...checkAgents(graph), ...(opts.traffic ? [] : checkGateway(graph))])
      problems.push({ message: `${where}: ${p.message}` });
  }
  if (problems.length === 0 && opts.images) {
    const images = [...new Set(experiment.cells.flatMap((c) => imagesOf(c.runs[0].graph)))];
    if (!(await allImagesPresent(images))) {
      const docker = new (await import('dockerode')).default();
      problems.push(...(await checkImages(docker, images)));
    }
  }
  return problems.length ? { problems } : { experiment, problems };
}

/** What the model traffic of the experiment is, for the report: none when no agent calls a model. */
function trafficOf(experiment: Experiment, flag?: TrafficOption): ExperimentInput['traffic'] {
  if (flag) return flag.mode;
  if (experiment.spec.gateway) return experiment.spec.gateway.mode;
  const models = experiment.cells.some((c) =>
    Object.values(c.runs[0].graph.agents).some((a) => a.harness !== 'command' || Object.keys(a.credentials).length > 0),
  );
  return models ? 'live' : 'none';
}

/** Checks the file (BadInputError before anything is created) and starts the experiment. */
export async function startExperiment(file: string, opts: ExperimentOptions = {}): Promise<StartedExperiment> {
  const cfg = opts.config ?? loadConfig();
  const experimentId = opts.experimentId ?? newExperimentId(loadExperimentName(file));
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$/.test(experimentId)) {
    throw new BadInputError([{ message: `experiment id "${experimentId}" is not a safe name (letters, digits, - and _; at most 41)` }]);
  }
  const { experiment, problems } = await validateExperimentFile(file, { experimentId, images: true, traffic: opts.traffic });
  if (!experiment) throw new BadInputError(problems, file);
  const reused = opts.resumeFrom === undefined ? undefined : await reusableCells(cfg, opts.resumeFrom, experiment);
  if ((opts.worker ?? 'in-process') !== 'none') (await import('../activities/limits')).workerLimits({}, process.env);
  const resultsDir = experimentDir(cfg.dataDir, experimentId);
  const input: ExperimentInput = {
    experimentId,
    name: experiment.name,
    note: experiment.spec.note,
    file: experiment.file,
    resultsDir,
    concurrency: experiment.spec.concurrency,
    wallTimeMs: experiment.wallTimeMs,
    traffic: trafficOf(experiment, opts.traffic),
    reused,
    cells: experiment.cells.map((c) => ({
      cellId: c.cellId,
      subject: c.subject,
      arm: c.arm,
      armKind: c.armKind,
      repetition: c.repetition,
      graphDigest: c.graphDigest,
      runs: c.runs.map((r): RunInput => ({
        runId: r.runId,
        graph: r.graph,
        artifactsDir: runArtifactsDir(cfg.dataDir, r.runId),
        keepOnFailure: false,
      })),
    })),
  };
  const created = !existsSync(resultsDir);
  mkdirSync(resultsDir, { recursive: true });
  const { client, stopWorker } = await launchWorkflow(
    cfg,
    opts,
    { dir: resultsDir, created, workerLog: experimentFiles(resultsDir).workerLog },
    (client, searchAttributes) => {
      input.searchAttributes = searchAttributes;
      return client.workflow.start<typeof runExperiment>('runExperiment', {
        workflowId: experimentId,
        taskQueue: TASK_QUEUE,
        versioningOverride: { pinnedTo: workerVersion() },
        args: [input],
        staticSummary: `experiment ${experiment.name}: ${input.cells.length} cells`,
        memo: { experiment: experiment.name, resultsDir, file: experiment.file },
      });
    },
  );
  // each cell run's folder says what it is, as a run's does: gc reads it, and resume of a cell
  // points to the experiment (written once started: a start that fails leaves nothing)
  for (const cell of input.cells) {
    for (const run of cell.runs) {
      mkdirSync(run.artifactsDir, { recursive: true });
      const about = {
        runId: run.runId,
        graphFile: experiment.file,
        graphName: run.graph.name,
        repo: run.graph.repo,
        scope: scopeOf(cfg.namespace, cfg.address),
        experiment: experimentId,
        cell: cell.cellId,
      };
      writeFileSync(runFilePath(run.artifactsDir), JSON.stringify(about, null, 2) + '\n');
    }
  }
  writeFileSync(
    experimentFiles(resultsDir).start,
    JSON.stringify({ experimentId, file: experiment.file, name: experiment.name, cells: input.cells.map((c) => c.cellId) }, null, 2) + '\n',
  );
  return { experimentId, client, resultsDir, cells: input.cells.length, uiLink: runUiLink(cfg, experimentId), stopWorker };
}

/**
 * The earlier experiment's cells that completed, with the same graph as now: a resumed experiment
 * takes them as they are and runs the others (failed, cancelled, never run, or changed).
 */
async function reusableCells(cfg: ClientConfig, fromId: string, experiment: Experiment): Promise<CellResult[]> {
  const file = experimentFiles(experimentDir(cfg.dataDir, fromId)).json;
  const client = await connect(cfg, { startServer: true });
  try {
    const running = await client.workflow
      .getHandle(fromId)
      .describe()
      .then((d) => d.status.name === 'RUNNING')
      .catch((err) => {
        if (err instanceof WorkflowNotFoundError) return false; // history gone: its results are enough
        throw err;
      });
    if (running) throw new BadInputError([{ message: `experiment "${fromId}" is still running; cancel it first` }]);
  } finally {
    await client.connection.close();
  }
  if (!existsSync(file)) throw new BadInputError([{ message: `no experiment "${fromId}" to resume: ${file} does not exist` }]);
  const earlier = JSON.parse(readFileSync(file, 'utf8')) as ExperimentReport;
  const digests = new Map(experiment.cells.map((c) => [c.cellId, c.graphDigest]));
  return earlier.cells
    .filter((c) => c.status === 'completed' && digests.get(c.cellId) === c.graphDigest)
    .map((c) => ({ ...c, reusedFrom: c.reusedFrom ?? earlier.experimentId }));
}

/** The name in the file, for the experiment's id; a file that cannot say is reported by the full check. */
function loadExperimentName(file: string): string {
  try {
    const name = (parse(readFileSync(file, 'utf8')) as { name?: unknown } | null)?.name;
    return typeof name === 'string' ? name : 'exp';
  } catch {
    return 'exp';
  }
}

/** The experiment's report: live while it runs (a query), final once it is over. */
export async function getExperimentReport(client: Client, experimentId: string): Promise<ExperimentReport> {
  const handle = client.workflow.getHandle(experimentId);
  let status;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new BadInputError([{ message: `no experiment with id "${experimentId}"` }]);
    throw err;
  }
  if (status === 'RUNNING') return handle.query(experimentStatusQuery);
  return (await handle.result()) as ExperimentReport;
}

/** True when the id names an experiment (status and report show it as one), not a run. */
export async function isExperiment(client: Client, id: string): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(id).describe()).type === 'runExperiment';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export interface ExperimentSummary {
  experimentId: string;
  status: string;
  name?: string;
  startTime?: Date;
  closeTime?: Date;
}

/** Experiments, newest first (`agentvisor ls --experiments`). */
export async function listExperiments(client: Client, limit = 50): Promise<ExperimentSummary[]> {
  const found: ExperimentSummary[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType = 'runExperiment'` })) {
    found.push({
      experimentId: wf.workflowId,
      status: wf.status.name.toLowerCase(),
      name: wf.memo?.experiment as string | undefined,
      startTime: wf.startTime,
      closeTime: wf.closeTime,
    });
    if (found.length >= limit) break;
  }
  return found;
}

/** Waits for the experiment to end and returns its report. */
export async function waitForExperiment(client: Client, experimentId: string): Promise<ExperimentReport> {
  return (await client.workflow.getHandle(experimentId).result()) as ExperimentReport;
}
