// Every message a run answers, in one place: the names are the wire contract with the client
// (client/api.ts, client/coordination.ts), so they never change. run-graph.ts registers the
// handlers in the workflow body (the safe-message-handlers sample); approvals.ts and growth.ts
// do the work.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { TaskSpec } from '../graph/types';
import type { ApprovalReport, RunReport } from '../contract/run-types';

/** The run's report as it stands (`agentvisor status`, the live view). */
export const statusQuery = defineQuery<RunReport>('status');

/** An answer to an approval gate (`agentvisor approve` / `reject`). */
export interface Decision {
  /** the task id or "merge"; may be left out when exactly one gate is waiting */
  gate?: string;
  reason?: string;
}

export const approveUpdate = defineUpdate<ApprovalReport, [Decision]>('approve');
export const rejectUpdate = defineUpdate<ApprovalReport, [Decision]>('reject');

export interface AddResult {
  added: string[];
}

/** Tasks added to the running graph (`agentvisor add`). */
export const addTasksUpdate = defineUpdate<AddResult, [TaskSpec[]]>('addTasks');

/** An experiment's report as it stands: the cells measured so far (`agentvisor experiment`). */
export const experimentStatusQuery = defineQuery<import('../contract/experiment-types').ExperimentReport>('experimentStatus');
