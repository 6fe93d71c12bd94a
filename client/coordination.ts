// The API of a running run's coordination: answering its approval gates, adding tasks to it. Each
// is a Temporal update; the workflow's validator refuses what does not fit (no such gate waiting,
// an unknown agent, a cycle), and that refusal becomes a BadInputError here (exit 2 in the CLI),
// having changed nothing.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { BadInputError } from '../graph/problems';
import { loadTasksFileOrThrow } from '../graph/tasks-file';
import { addTasksUpdate, approveUpdate, rejectUpdate, type AddResult } from '../workflows/messages';
import type { ApprovalReport } from '../contract/run-types';

/** The run's handle, once it is known to be running (a finished run answers nothing). */
async function runningHandle(client: Client, runId: string) {
  const handle = client.workflow.getHandle(runId);
  try {
    const d = await handle.describe();
    if (d.status.name !== 'RUNNING')
      throw new BadInputError([{ message: `run "${runId}" is ${d.status.name.toLowerCase()}, not running` }]);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new BadInputError([{ message: `no run with id "${runId}"` }]);
    throw err;
  }
  return handle;
}

/** An update's refusal (validator) or failure, as bad input naming the reason. */
async function refusedAsBadInput<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new BadInputError([{ message: `${what} refused: ${err.cause?.message ?? err.message}` }]);
    }
    throw err;
  }
}

/** Approves the gate (a task id or "merge"); with no gate named, the one gate that is waiting. */
export async function approveGate(client: Client, runId: string, gate?: string): Promise<ApprovalReport> {
  const handle = await runningHandle(client, runId);
  return refusedAsBadInput('approval', () => handle.executeUpdate(approveUpdate, { args: [{ gate }] }));
}

/** Rejects the gate, which fails the run with the reason (and rolls it back). */
export async function rejectGate(client: Client, runId: string, reason: string, gate?: string): Promise<ApprovalReport> {
  const handle = await runningHandle(client, runId);
  return refusedAsBadInput('rejection', () => handle.executeUpdate(rejectUpdate, { args: [{ gate, reason }] }));
}

/**
 * Adds the tasks of a file (tasks: [...], a list, or one task, as in a graph file) to a running run.
 * The file's own problems are found here, with their lines; whether the tasks fit the run (known
 * agents, dependencies on its tasks or each other, no cycle) the run's validator decides.
 */
export async function addTasks(client: Client, runId: string, file: string): Promise<AddResult> {
  const tasks = loadTasksFileOrThrow(file);
  const handle = await runningHandle(client, runId);
  return refusedAsBadInput('addition', () => handle.executeUpdate(addTasksUpdate, { args: [tasks] }));
}
