// What goes in and out of the workflows: plain, serialisable data. No secrets: credentials travel
// as references and are resolved inside activities.
import type { GraphSpec } from '../graph/types';

export const TASK_QUEUE = 'agentvisor';

export interface RunInput {
  runId: string;
  graph: GraphSpec;
  /** folder for this run's worktrees, logs and report, on the worker's machine */
  artifactsDir: string;
  /** leave branches, worktrees and containers of a failed run for debugging */
  keepOnFailure: boolean;
  /** the namespace has agentvisor's search attributes: keep status and cost up to date there */
  searchAttributes?: boolean;
  /** a resumed run: start from the same base commit and reuse the earlier run's recorded work */
  resume?: { fromRunId: string; fromArtifactsDir: string; baseCommit?: string };
}

export type RunStatus = 'running' | 'awaiting_approval' | 'completed' | 'failed' | 'cancelled';
export type TaskStatus = 'pending' | 'awaiting_approval' | 'running' | 'succeeded' | 'failed' | 'budget_exceeded' | 'cancelled' | 'skipped';

/** A run still going (working, or waiting for an approval) has no final report yet. */
export const isLive = (status: RunStatus) => status === 'running' || status === 'awaiting_approval';

export interface TaskReport {
  id: string;
  agent: string;
  /** the tasks it starts from */
  after?: string[];
  status: TaskStatus;
  branch?: string;
  commit?: string;
  filesChanged: number;
  insertions: number;
  deletions: number;
  files: string[];
  logPath?: string;
  exitCode?: number;
  error?: string;
  /**
   * the agent's last output lines (contract/task-output.ts): kept for a task that failed, and for a
   * read-only agent's findings; the agent's text, to be escaped where shown
   */
  outputTail?: string[];
  startedAt?: number;
  finishedAt?: number;
  /** tokens and cost, as the agent's CLI (or the gateway) reported them */
  usage?: Usage;
  /** a task added while the run ran: "agentvisor add", or "proposal of <task>" */
  addedBy?: string;
  /** resumed runs: the run whose recorded work this task reused */
  reusedFrom?: string;
  /** resumed runs: why the task was redone; runs with hosts: why it moved */
  note?: string;
  /** runs with a remote: the host it ran on */
  host?: string;
}

export interface MergeConflict {
  /** the task whose branch did not merge */
  taskId: string;
  /** tasks already merged that changed the same files */
  conflictsWith: string[];
  files: string[];
  /** what the graph's onConflict made of it (absent: fail) */
  resolution?: ConflictResolution;
}

/** A conflict's resolution in a few words, for the CLI, the report and the UI. */
export function describeResolution(r?: ConflictResolution): string {
  if (!r) return '';
  if (r.status === 'failed') return ` (${r.strategy === 'retry' ? 'retry' : 'resolution'} failed: ${r.reason})`;
  return r.strategy === 'retry' ? ' (resolved: the task was retried on top of the integration branch)' : ` (resolved by ${r.by})`;
}

export interface ConflictResolution {
  /** retry: the task ran again on top of the integration branch; resolve: an agent resolved the merge */
  strategy: 'retry' | 'resolve';
  /** the resolver agent */
  by?: string;
  status: 'resolved' | 'failed';
  reason?: string;
  /** the merge commit the resolver's work became */
  commit?: string;
  /** the resolver's output */
  logPath?: string;
  /** runs with a remote: the host the resolver ran on (its log is there) */
  host?: string;
}

export interface MergeReport {
  status: 'pending' | 'merged' | 'conflict' | 'skipped';
  commit?: string;
  /** runs with a remote: the host it ran on */
  host?: string;
  conflicts: MergeConflict[];
}

export interface EvaluationReport {
  passed: boolean;
  exitCode: number;
  logPath: string;
  timedOut?: boolean;
  /** why it failed when the exit code does not say (disk limit exceeded) */
  reason?: string;
  /** runs with a remote: the host it ran on (the log is there) */
  host?: string;
}

export interface RunReport {
  runId: string;
  graphName: string;
  repo: string;
  status: RunStatus;
  integrationBranch: string;
  baseCommit?: string;
  startedAt: number;
  finishedAt?: number;
  tasks: TaskReport[];
  merge: MergeReport;
  evaluation: EvaluationReport | null;
  error?: string;
  artifactsDir: string;
  /** the git remote the run's hosts exchange work through (its branches are there) */
  remote?: string;
  /** the run's shared workspace, when some agent has access to it */
  shared?: SharedReport;
  /** approval gates reached so far, in the order they were reached */
  approvals?: ApprovalReport[];
  /** agents' proposals of follow-up tasks, accepted or refused */
  proposals?: ProposalReport[];
}

/** One approval gate of the run: a task's (before it starts) or the merge's. */
export interface ApprovalReport {
  /** the task id, or "merge" */
  gate: string;
  status: 'waiting' | 'approved' | 'rejected' | 'cancelled';
  /** nobody answered in time; the graph's onTimeout decided */
  timedOut?: boolean;
  reason?: string;
  requestedAt: number;
  decidedAt?: number;
  timeoutMs: number;
  onTimeout: 'approve' | 'reject';
}

/** One proposal file an agent left in its drop folder, and what the run made of it. */
export interface ProposalReport {
  /** the task whose agent proposed it */
  by: string;
  file: string;
  /** the ids of the tasks it proposed (when it could be read) */
  tasks: string[];
  status: 'accepted' | 'refused';
  reason?: string;
}

export interface SharedReport {
  /** the folder on the worker's machine (in the run's artifacts) */
  path: string;
  /** where agents see it */
  mount: string;
  /** agent → access */
  access: Record<string, 'rw' | 'ro'>;
  /** set once a rollback removed it */
  removed?: boolean;
}

export interface TaskInput {
  runId: string;
  graphName: string;
  repo: string;
  artifactsDir: string;
  taskId: string;
  baseCommit: string;
  /** branches of the tasks this one starts from, merged into its worktree before the agent runs */
  dependencyBranches: string[];
  /** the commits of those branches, recorded in the ledger */
  dependencyCommits: string[];
  keepOnFailure: boolean;
  /** the run's git remote: the task runs on a host of its placement and exchanges work through it */
  remote?: string;
  /** the run's gateway, when it has one: the network agents join and the worker-side control URL (and its host's name, with a remote) */
  gateway?: { network: string; controlUrl: string; host?: string };
  /** a run with a remote that needs gateways: the task's host starts its own from this (workflows/host-gateways.ts) */
  hostGateway?: import('../graph/gateway-needs').GatewayGraph;
  agent: import('../graph/types').AgentSpec;
  task: import('../graph/types').TaskSpec;
  /** the run's shared workspace, when this task's agent has access to it */
  shared?: { dir: string; readOnly: boolean; dropDir?: string };
  /** a resolver's run: the conflicting task, whose branch's merge is in progress in the worktree */
  conflict?: { taskId: string; branch: string };
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costUsd?: number;
}

export interface TaskResult {
  usage?: Usage;
  id: string;
  status: 'succeeded' | 'failed';
  reusedFrom?: string;
  branch: string;
  commit: string;
  filesChanged: number;
  insertions: number;
  deletions: number;
  files: string[];
  logPath: string;
  exitCode: number;
  error?: string;
  /** a read-only agent's last output lines: its findings */
  outputTail?: string[];
  /** runs with a remote: the host it ran on, and why it moved there when it did */
  host?: string;
  note?: string;
}

/** Where agents see the run's shared workspace. */
export const SHARED_MOUNT = '/shared';
/** Where an agent allowed to write there drops task files for follow-up tasks (its own folder). */
export const PROPOSALS_MOUNT = '/shared/proposals';

/** A task's drop folder for proposals, on the worker's machine (in the run's artifacts). */
export const dropFolder = (artifactsDir: string, taskId: string) => `${artifactsDir}/proposals/${taskId}`;

export const integrationBranch = (runId: string) => `agentvisor/${runId}`;
/** Not under agentvisor/<run id>/: git cannot hold a branch and a folder of branches of one name. */
export const taskBranch = (runId: string, taskId: string) => `agentvisor-tasks/${runId}/${taskId}`;
/**
 * A task's entry in the ledger of a run with a remote: a commit on the remote whose parent is the
 * task's work and whose message is the entry. A rollback leaves it, as it leaves the local ledger.
 */
export const ledgerRef = (runId: string, taskId: string) => `refs/agentvisor-ledger/${runId}/${taskId}`;
/** The shared workspace of a run with a remote: a commit whose tree is its files (activities/remote-shared.ts). */
export const sharedRef = (runId: string) => `refs/agentvisor-shared/${runId}`;
