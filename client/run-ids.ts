// What the user types for a run: its id, a unique prefix of it, or `RUN/TASK` (the id of a task's
// child workflow, as the Temporal UI shows it). Every command that takes a run resolves it here, so
// that "not found" and "which one?" are the same answer (exit 2) everywhere.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { closest, distance } from 'fastest-levenshtein';
import { existsSync, readdirSync } from 'node:fs';
import { BadInputError } from '../graph/problems';
import { SAFE_ID } from '../graph/graph-checks';
import { runArtifactsDir, runsDir } from '../paths/data-folder';
import { runFilePath } from '../paths/run-folder';

/** Where runs are known: this machine's run folders, and (when connected) the Temporal server. */
export interface RunSources {
  dataDir: string;
  client?: Client;
}

/** `RUN/TASK` split into its run and task; a plain run id has no task. */
export function splitRunRef(ref: string): { run: string; task?: string } {
  const i = ref.indexOf('/');
  if (i < 0) return { run: ref };
  // a conflict's retry is `RUN/TASK/retry`: still that task
  return { run: ref.slice(0, i), task: ref.slice(i + 1).split('/')[0] || undefined };
}

/** The full run id for `ref` (an id or a unique prefix of one); BadInputError when none or several match. */
export async function resolveRunId(ref: string, sources: RunSources): Promise<string> {
  if (!SAFE_ID.test(ref)) throw notFound(ref, await recentRunIds(sources));
  if (hasFolder(sources.dataDir, ref) || (await isRunOnServer(sources.client, ref))) return ref;
  const matches = [...new Set([...folderRunIds(sources.dataDir), ...(await serverRunIds(sources.client, ref))])]
    .filter((id) => id.startsWith(ref))
    .sort();
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) {
    const shown = matches.slice(0, 10).join(', ') + (matches.length > 10 ? `, … (${matches.length} in all)` : '');
    throw new BadInputError([{ message: `run id prefix "${ref}" matches several runs: ${shown}` }]);
  }
  throw notFound(ref, await recentRunIds(sources));
}

function notFound(ref: string, known: string[]): BadInputError {
  const suggestion = didYouMean(ref, known);
  return new BadInputError([{ message: `no run with id "${ref}"${suggestion ? ` (did you mean ${suggestion}?)` : ''}` }]);
}

/** The nearest of `known` to `typed`, when it is near enough to be a typo. */
export function didYouMean(typed: string, known: string[]): string | undefined {
  if (known.length === 0) return undefined;
  const best = closest(typed, known);
  return distance(typed, best) <= Math.max(2, Math.floor(typed.length / 4)) ? best : undefined;
}

const hasFolder = (dataDir: string, runId: string) => existsSync(runFilePath(runArtifactsDir(dataDir, runId)));

function folderRunIds(dataDir: string): string[] {
  const dir = runsDir(dataDir);
  return existsSync(dir) ? readdirSync(dir).filter((id) => hasFolder(dataDir, id)) : [];
}

async function isRunOnServer(client: Client | undefined, runId: string): Promise<boolean> {
  if (!client) return false;
  try {
    return (await client.workflow.getHandle(runId).describe()).type === 'runGraph';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Runs on the server whose id starts with the prefix (SAFE_ID: nothing to escape in the query). */
async function serverRunIds(client: Client | undefined, prefix: string, limit = 50): Promise<string[]> {
  if (!client) return [];
  const ids: string[] = [];
  const query = `WorkflowType = 'runGraph'${prefix ? ` AND WorkflowId STARTS_WITH '${prefix}'` : ''}`;
  for await (const wf of client.workflow.list({ query })) {
    ids.push(wf.workflowId);
    if (ids.length >= limit) break;
  }
  return ids;
}

async function recentRunIds(sources: RunSources): Promise<string[]> {
  return [...new Set([...folderRunIds(sources.dataDir), ...(await serverRunIds(sources.client, '', 200))])];
}
