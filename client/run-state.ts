// A run's report, wherever it is: the run's answer while it runs (a query), its result once it is
// over, and its report.json when the server no longer has its history (retention) or it left none.
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { existsSync, readFileSync } from 'node:fs';
import { BadInputError } from '../graph/problems';
import type { RunReport } from '../contract/run-types';
import { statusQuery } from '../workflows/messages';
import { loadConfig, type ClientConfig } from './config';
import { runArtifactsDir } from '../paths/data-folder';
import { reportPath } from '../paths/run-folder';

/** The run's report: live while it runs (a query), final once it is over. */
export async function getRunReport(client: Client, runId: string, cfg: ClientConfig = loadConfig()): Promise<RunReport> {
  const handle = client.workflow.getHandle(runId);
  const saved = reportPath(runArtifactsDir(cfg.dataDir, runId));
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    // the history is gone (retention, `temporal workflow delete`): the run folder still says how it ended
    if (existsSync(saved)) return JSON.parse(readFileSync(saved, 'utf8')) as RunReport;
    throw new BadInputError([{ message: `no run with id "${runId}"` }]);
  }
  if (description.type !== 'runGraph') {
    throw new BadInputError([{ message: `"${runId}" is not a run but a ${description.type} workflow` }]);
  }
  const status = description.status.name;
  if (status === 'COMPLETED') return (await handle.result()) as RunReport;
  if (status === 'FAILED') {
    try {
      await handle.result();
    } catch (err) {
      const report = err instanceof WorkflowFailedError ? (err.cause as { details?: unknown[] })?.details?.[0] : undefined;
      if (report) return report as RunReport;
    }
  }
  if (status === 'RUNNING') {
    try {
      return await handle.query(statusQuery);
    } catch (err) {
      // a query is answered by a worker: a run left with none (its worker was the CLI, stopped) is open and mute
      throw new Error(
        `run ${runId} is running, but no worker answered for it (${(err as Error).message}): ` +
          'start one with `agentvisor worker` (from the installation that started the run)',
      );
    }
  }
  const artifactsDir = (description.memo?.artifactsDir as string) ?? runArtifactsDir(cfg.dataDir, runId);
  const file = reportPath(artifactsDir);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as RunReport;
  throw new Error(`run ${runId} is ${status.toLowerCase()} and left no report`);
}
