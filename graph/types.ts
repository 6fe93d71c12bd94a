// The resolved task graph: plain data with defaults applied, absolute paths and milliseconds.
// This is what travels to the workflow, so it holds credential references only, never values.
import type { Placement } from './placement';
export type { Placement } from './placement';

export type HarnessName = 'command' | 'claude-code' | 'gemini-cli' | 'codex' | 'opencode';

/** The graph's own limits; each one absent takes the worker's default (activities/limits.ts). */
export interface Limits {
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
  /** size of the workspace's filesystem */
  diskBytes?: number;
}

export interface AgentSpec {
  name: string;
  harness: HarnessName;
  image?: string;
  command?: string;
  model?: string;
  promptTemplate?: string;
  /** provider → reference (env:NAME or file:/path) */
  credentials: Record<string, string>;
  readOnly: boolean;
  /** files put into HOME (path relative to HOME, content); absent in graphs from before it existed */
  home?: { path: string; content: string }[];
  /** access to the run's shared workspace; absent: none (and in graphs from before it existed) */
  shared?: 'rw' | 'ro';
  env: Record<string, string>;
  limits: Limits;
  /** hosts reachable through the gateway's proxy, besides the model providers */
  allowHosts: string[];
  /** per task */
  budget?: Budget;
}

// (the gateway's shapes: the worker hands both to it)
export type { Budget } from '../gateway/config';
export type { Price } from '../gateway/prices';
import type { Budget } from '../gateway/config';
import type { Price } from '../gateway/prices';

export interface GatewaySpec {
  mode: 'live' | 'record' | 'replay';
  /** absolute path of the cassette folder */
  cassettesDir?: string;
  upstreams: Partial<Record<'anthropic' | 'openai' | 'gemini', string>>;
  prices: Record<string, Price>;
}

export interface TaskSpec {
  id: string;
  agent: string;
  prompt: string;
  after: string[];
  timeoutMs: number;
  retry: RetrySpec;
  /** wait for approval before the task starts */
  approval?: ApprovalSpec;
  /** the host (or labels) it runs on; absent: any host */
  runsOn?: Placement;
}

export interface ApprovalSpec {
  timeoutMs: number;
  onTimeout: 'approve' | 'reject';
}

export interface MergeSpec {
  /** wait for approval before merging */
  approval?: ApprovalSpec;
  /** a conflicting task branch: fail the run (also when absent), retry the task on the integration branch, or resolve it with an agent */
  onConflict?: 'fail' | 'retry' | 'resolve';
  /** the resolving agent (onConflict: resolve) */
  resolver?: string;
  resolverTimeoutMs?: number;
}

export interface RetrySpec {
  maximumAttempts: number;
  initialIntervalMs: number;
}

export const DEFAULT_RETRY: RetrySpec = { maximumAttempts: 3, initialIntervalMs: 2000 };

export interface EvaluateSpec {
  command: string;
  image?: string;
  timeoutMs: number;
  limits: Limits;
  runsOn?: Placement;
}

export interface GraphSpec {
  name: string;
  /** absolute path of the repository; with a remote, the remote (no local repository is used) */
  repo: string;
  /** the git remote the hosts exchange the repository through (URL or absolute path) */
  remote?: string;
  /** where the merge runs (with a remote) */
  mergeRunsOn?: Placement;
  baseBranch: string;
  agents: Record<string, AgentSpec>;
  /** in a topological order: every task comes after the tasks it depends on */
  tasks: TaskSpec[];
  failFast: boolean;
  evaluate?: EvaluateSpec;
  /** per run */
  budget?: Budget;
  gateway?: GatewaySpec;
  /** merge gate and conflict handling; absent in graphs from before they existed */
  merge?: MergeSpec;
  /** agents' proposals of follow-up tasks; absent: none are accepted */
  proposals?: ProposalsSpec;
  /** present when some agent has access to a shared workspace */
  shared?: SharedSpec;
}

/** Which agents may propose follow-up tasks, which agents those tasks may use, and how many and how deep in all. */
export interface ProposalsSpec {
  from: string[];
  maxTasks: number;
  maxDepth: number;
  /** agents proposed tasks may use; absent: only the proposing task's own agent */
  agents?: string[];
}

export interface SharedSpec {
  /** kept when a failed run is rolled back */
  keep: boolean;
}

export const DEFAULT_TASK_TIMEOUT_MS = 30 * 60_000;
export const DEFAULT_EVALUATE_TIMEOUT_MS = 10 * 60_000;
