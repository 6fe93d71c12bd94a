// What the activities of a worker are made with (ActivityDeps), and what they share once made
// (ActivityContext): built once per worker by createActivities (local.ts).
import type { ContainerRuntime } from '../runtimes/runtime';
import type { GatewayTokens } from './gateway';
import type { ResolvedLimits } from './limits';
import type { WorkspaceMode } from './workspace-overlay';

export interface ActivityDeps {
  runtime: ContainerRuntime;
  /** LABEL_SCOPE value for this worker's containers (namespace@address) */
  scope?: string;
  /** the worker's default limits, for what a graph leaves unset (activities/limits.ts) */
  limits?: ResolvedLimits;
  /** the worker's data folder (its gateway key); default AGENTVISOR_HOME */
  dataDir?: string;
  /** the host this worker serves (--host); absent: a worker of the default queue only */
  host?: string;
}

export interface ActivityContext {
  /** every engine call of the activities waits out an engine restart (activities/engine-outage.ts) */
  runtime: ContainerRuntime;
  scope: string;
  /** the worker's default limits */
  defaults: ResolvedLimits;
  /** `uid:gid` the agents' containers (and the collectors', the gateway's) run as (sandbox-user.ts) */
  user: string;
  /** who the folders agents use are handed to; undefined: the worker's own user, who owns them */
  owner?: { uid: number; gid: number };
  /** the tasks' workspaces: copy-on-write overlays, or copies (AGENTVISOR_WORKSPACE, workspace-overlay.ts) */
  workspaces: WorkspaceMode;
  /** the agents' and the worker's tokens for the run's gateway */
  tokens: GatewayTokens;
}
