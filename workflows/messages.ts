// Every message a run answers, in one place: the names are the wire contract with the client
// (client/api.ts, client/coordination.ts), so they never change. run-graph.ts registers the
// handlers in the workflow body (the safe-message-handlers sample); approvals.ts and growth.ts
// do the work.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { TaskSpec } from '../graph/types';
import type { ApprovalReport, RunReport } from '../contract/run-types';
import type { Spend } from '../contract/run-budget';

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

/** A task's host starts its own gateway of the run (a run with a remote): the run stops it at its end. */
export interface HostGatewayStarted {
  host: string;
  /** the host's own queue, where its gateway is stopped */
  queue: string;
}

/** Sent by the task (a child workflow) to its run before its host starts the gateway (workflows/host-gateways.ts). */
export const hostGatewayStartedSignal = defineSignal<[HostGatewayStarted]>('hostGatewayStarted');

export type { Spend };

/** The run's spend across its hosts' gateways, and whether its budget is spent. */
export interface RunSpend extends Spend {
  byHost: Record<string, Spend>;
  budgetSpent: boolean;
}

/** One host's gateway's spend so far (absolute: a later report replaces an earlier one), from its worker. */
export const recordHostSpendUpdate = defineUpdate<RunSpend, [{ host: string } & Spend]>('recordHostSpend');

/** The run's spend across its hosts, for a worker whose own gateway has spent nothing new. */
export const runSpendQuery = defineQuery<RunSpend>('runSpend');

/** A host's ask for its gateway's pending calls, near the run's budget, with its spend so far. */
export interface HostAdmissionRequest extends Spend {
  host: string;
  /** calls waiting for the grant (0: a report of spend only) */
  calls: number;
}

/** The run's answer: every asked call granted or none, and the run's total as recorded with this host's spend. */
export interface HostAdmission {
  granted: boolean;
  run: RunSpend;
}

/**
 * Near the run's budget, each host's gateway admits no model call on its own: its worker asks the
 * run (workflows/host-gateways.ts, activities/budget-relay.ts). Granted while the run's record of
 * all hosts' spend, this host's included, has not crossed the budget.
 */
export const admitHostCallsUpdate = defineUpdate<HostAdmission, [HostAdmissionRequest]>('admitHostCalls');
