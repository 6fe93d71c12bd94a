// A run's folder (data-folder.ts: runArtifactsDir), on the machine of the worker that does its
// work: what the run records, its logs, and the workspaces of its agents.
import * as path from 'node:path';

/** What `agentvisor resume` and `agentvisor gc` need to find the run again, its history gone. */
export const runFilePath = (artifactsDir: string) => path.join(artifactsDir, 'run.json');
/** The run's final report (contract/run-types.ts: RunReport). */
export const reportPath = (artifactsDir: string) => path.join(artifactsDir, 'report.json');
/** The finished work of the run's tasks, one line each (activities/ledger.ts); resume reads it. */
export const ledgerPath = (artifactsDir: string) => path.join(artifactsDir, 'ledger.jsonl');

/**
 * The log of the worker `agentvisor run` runs in its own process (JSON lines): kept off the live
 * table. Beside logs/, not in it: a task may be called "worker".
 */
export const runWorkerLogPath = (artifactsDir: string) => path.join(artifactsDir, 'worker.log');

export const logsDir = (artifactsDir: string) => path.join(artifactsDir, 'logs');
/** A task's agent output; also the resolvers' and collectors' (ids starting with "_"). */
export const taskLogPath = (artifactsDir: string, taskId: string) => path.join(logsDir(artifactsDir), `${taskId}.log`);
export const evaluationLogPath = (artifactsDir: string) => path.join(logsDir(artifactsDir), 'evaluation.log');

/** The agents' workspaces (each the agent's own repository, mounted at /workspace). */
export const worktreesDir = (artifactsDir: string) => path.join(artifactsDir, 'worktrees');
export const taskWorktreePath = (artifactsDir: string, taskId: string) => path.join(worktreesDir(artifactsDir), taskId);
/** The checkouts the run's copy-on-write workspaces are overlays of, one per start commit (activities/workspace-overlay.ts). */
export const workspaceBasesDir = (artifactsDir: string) => path.join(worktreesDir(artifactsDir), '.bases');
/** The evaluation's workspace, beside the tasks' ("_evaluate" is never a task id). */
export const evaluationWorktreePath = (artifactsDir: string) => taskWorktreePath(artifactsDir, '_evaluate');

/** The files a task's harness puts in the agent's HOME (mounted read-only). */
export const homeFilesDir = (artifactsDir: string, taskId: string) => path.join(artifactsDir, 'home', taskId);
/** The folder holding a task's prompt file, mounted read-only (harnesses/harness.ts: PROMPT_MOUNT). */
export const promptDir = (artifactsDir: string, taskId: string) => path.join(artifactsDir, 'prompts', taskId);
/** The collectors' folders (activities/workspace.ts). */
export const collectRoot = (artifactsDir: string) => path.join(artifactsDir, 'collect');
/** Where a task's collector leaves its bundle: a folder of the run's, mounted into the collector alone. */
export const collectDir = (artifactsDir: string, id: string) => path.join(collectRoot(artifactsDir), id);
/** The run's shared workspace (activities/coordination.ts). */
export const sharedDir = (artifactsDir: string) => path.join(artifactsDir, 'shared');
/** A run with a remote: each task's copy of the shared workspace on its host (activities/remote-shared.ts). */
export const sharedCopiesDir = (artifactsDir: string) => path.join(artifactsDir, 'shared-copies');
/** The gateway's config, mounted into its container. */
export const gatewayConfigDir = (artifactsDir: string) => path.join(artifactsDir, 'gateway');
/** Where a recording gateway writes its cassettes when the graph names no folder. */
export const cassettesDir = (artifactsDir: string) => path.join(artifactsDir, 'cassettes');
