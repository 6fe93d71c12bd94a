// Starting a workflow (a run, an experiment) so that a worker takes it: a worker in this process or
// in the background when none polls, and the workflow pinned to this build (workers/version.ts).
import type { Client, WorkflowHandle } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { ClientConfig } from './config';
import { connect, hasPollers, pollerBuilds } from './connection';
import { registerSearchAttributes } from './setup';
import { workerLogPath } from '../paths/data-folder';
import { buildId } from '../workers/version';

export interface LaunchOptions {
  /**
   * Who executes the workflow when no worker serves the task queue: this process (until it ends),
   * a background worker process that outlives it (for --detach), or nobody (wait for a worker).
   */
  worker?: 'in-process' | 'background' | 'none';
  log?: (line: string) => void;
  /** the run has a remote: warn when no host worker polls */
  hostsNeeded?: boolean;
}

/**
 * Connects (starting a dev server when there is none), makes sure a worker will take the workflow
 * and starts it, pinned to this build. `start` learns whether the search attributes are registered.
 */
export async function launchWorkflow(
  cfg: ClientConfig,
  opts: LaunchOptions,
  /** the workflow's folder (removed when the start is refused, if this made it) and the in-process worker's log there */
  folder: { dir: string; created: boolean; workerLog: string },
  start: (client: Client, searchAttributes: boolean) => Promise<WorkflowHandle>,
): Promise<{ client: Client; stopWorker?: () => Promise<void> }> {
  const client = await connect(cfg, { startServer: true, log: opts.log });
  // With nobody polling, start the worker first; with pollers listed (they may be stale: the
  // server remembers a dead worker for minutes), start the workflow and see whether anyone picks it up.
  let stopWorker: (() => Promise<void>) | undefined;
  const mode = opts.worker ?? 'in-process';
  let provided = false;
  const provide = async () => {
    if (mode === 'in-process') stopWorker = await startInProcessWorker(cfg, opts.log, folder.workerLog);
    else if (mode === 'background') spawnBackgroundWorker(cfg, opts.log);
    provided = mode !== 'none';
  };
  const [pollers, setup] = await Promise.all([hasPollers(client), registerSearchAttributes(client)]);
  if (!pollers) await provide();
  if (!pollers && mode === 'none') {
    const seen = await pollerBuilds(client);
    opts.log?.(
      `warning: no worker of this version (build ${buildId()}) polls the task queue${seen.length ? ` (workers seen: build ${seen.join(', ')})` : ''}; ` +
        'the run waits until one does: start `agentvisor worker` from this installation',
    );
  }
  if (opts.hostsNeeded && !(await (await import('./hosts')).anyHostPolls(client))) {
    opts.log?.(
      "warning: no worker started with --host polls this server: the run's tasks wait until one does (agentvisor worker --host NAME)",
    );
  }
  if ('error' in setup) opts.log?.(`warning: ${setup.error}`);
  // a worker of this build that the server lists as polling may not be registered for the pin yet
  // (the server propagates a new version in the background): wait for it as for one started here
  const handle = await startPinned(provided || pollers, folder.dir, folder.created, () => start(client, !('error' in setup)));
  if (pollers && mode !== 'none' && !(await pickedUp(handle, 3000))) await provide();
  return { client, stopWorker };
}

/** No worker of this build can take the run (workers/version.ts): nothing was started. */
export class NoCompatibleWorkerError extends Error {
  override readonly name = 'NoCompatibleWorkerError';
}

/**
 * Starts the run pinned to this build. The server refuses a pin to a build none of whose workers has
 * polled yet: when this process has just provided one, or one is listed as polling, wait for the
 * server to take it (up to 30 s); otherwise say so, and leave nothing behind.
 */
async function startPinned<T>(waitForWorker: boolean, artifactsDir: string, createdDir: boolean, start: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + (waitForWorker ? 30_000 : 0);
  for (;;) {
    try {
      return await start();
    } catch (err) {
      const notPresent = /Pinned version .* is not present in task queue/.test(
        `${(err as Error).message} ${((err as Error).cause as Error | undefined)?.message ?? ''}`,
      );
      if (!notPresent) throw err;
      if (Date.now() >= deadline) {
        if (createdDir) rmSync(artifactsDir, { recursive: true, force: true });
        throw new NoCompatibleWorkerError(
          `no worker of this version (build ${buildId()}) has polled this server yet, so none could take the run: ` +
            'start `agentvisor worker` from this installation first (workers of other builds never take it)',
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** A worker process that outlives this one, logging to the data folder. */
export function spawnBackgroundWorker(cfg: ClientConfig, log?: (line: string) => void): number {
  mkdirSync(cfg.dataDir, { recursive: true });
  const logFile = workerLogPath(cfg.dataDir);
  const out = openSync(logFile, 'a');
  const cli = path.join(__dirname, 'cli.js');
  const args = existsSync(cli) ? [cli] : [...process.execArgv, path.join(__dirname, 'cli.ts')];
  const child = spawn(process.execPath, [...args, 'worker'], { detached: true, stdio: ['ignore', out, out], env: process.env });
  child.unref();
  log?.(`no worker is serving the task queue; started one in the background (pid ${child.pid}, log ${logFile})`);
  return child.pid!;
}

/** True once a worker has started the run's first workflow task. */
export async function pickedUp(handle: WorkflowHandle, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const d = await handle.describe();
    if ((d.historyLength ?? 0) > 2 || d.status.name !== 'RUNNING') return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A worker in this process, logging to `logFile` (the terminal is the command's), stopped once. */
export async function startInProcessWorker(
  cfg: ClientConfig,
  log: ((line: string) => void) | undefined,
  logFile: string,
): Promise<() => Promise<void>> {
  log?.(`no worker is serving the task queue; running one in this process (its log: ${logFile})`);
  // loaded only here: the worker SDK takes a second to load, and most commands never need it
  const { createWorker } = await import('../workers/worker');
  const { logLevelFrom } = await import('../telemetry/logger');
  const { worker, connection } = await createWorker({
    address: cfg.address,
    namespace: cfg.namespace,
    logLevel: logLevelFrom(process.env.AGENTVISOR_LOG_LEVEL, 'INFO'),
    log: { file: logFile },
    shutdownSignals: [],
  });
  const running = worker.run();
  // once: Ctrl-C may stop it before the command's end does
  let stopped: Promise<void> | undefined;
  return () =>
    (stopped ??= (async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    })());
}
