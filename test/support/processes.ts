// Real processes the chaos tests kill: a worker (`agentvisor worker`) and a Temporal dev server.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { devServerArgs, findTemporalCli, isListening } from '../../client/dev-server';
import { buildId } from '../../workers/version';
import { untilPolling } from './temporal';

const BIN = path.join(__dirname, '..', '..', 'bin', 'agentvisor.js');

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  kill9: () => Promise<void>;
  stop: () => Promise<void>;
}

/**
 * `agentvisor worker` in its own process; resolves once it polls. `prefix` runs it through another
 * command that execs it (e.g. `ip netns exec NAME`), so the process is still the worker itself.
 */
export async function spawnWorker(
  env: NodeJS.ProcessEnv = process.env,
  args: string[] = [],
  prefix: string[] = [],
): Promise<WorkerProcess> {
  const argv = [...prefix, process.execPath, BIN, 'worker', ...args];
  const child = spawn(argv[0], argv.slice(1), { env: { ...env, AGENTVISOR_LOG_LEVEL: 'INFO' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  while (!/"state":"RUNNING"/.test(out)) {
    // the worker's JSON log line
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL'); // a worker that did not start is not left behind
      throw new Error(`worker did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // running is not yet polling: a run started before the first poll would find no worker of its build
  await untilPolling(env.TEMPORAL_ADDRESS!, env.AGENTVISOR_BUILD_ID || buildId()).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  return {
    child,
    output: () => out,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface ServerProcess {
  address: string;
  stop: () => Promise<void>;
  /** SIGKILL: no clean shutdown, whatever it had not written to its file is lost */
  kill9: () => Promise<void>;
  start: () => Promise<void>;
}

/** A dev server of the test's own with its state in a SQLite file, so it can be restarted. */
export async function devServerWithFile(dataDir: string, port: number, uiPort: number): Promise<ServerProcess> {
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(findTemporalCli()!, devServerArgs({ dataDir, port, uiPort, dbFile: path.join(dataDir, 'temporal.db') }), {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 30_000;
    while (!(await isListening('127.0.0.1', port))) {
      if (Date.now() > deadline) throw new Error('dev server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const signal = async (sig: NodeJS.Signals) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill(sig);
    await exited;
  };
  await start();
  return { address: `127.0.0.1:${port}`, start, stop: () => signal('SIGTERM'), kill9: () => signal('SIGKILL') };
}

/**
 * A worker the test kills (SIGKILL) at chosen stages and replaces at once with a new one; each kill
 * is recorded with its stage and time, for the recovery times (test/support/stall.ts).
 */
export async function killedWorkers(env: NodeJS.ProcessEnv = process.env): Promise<{
  kills: { stage: string; at: number }[];
  /** kills the current worker (its stage recorded) and starts the next */
  restart: (stage: string) => Promise<void>;
  stop: () => Promise<void>;
}> {
  let worker = await spawnWorker(env);
  const kills: { stage: string; at: number }[] = [];
  return {
    kills,
    restart: async (stage) => {
      await worker.kill9();
      kills.push({ stage, at: Date.now() });
      worker = await spawnWorker(env);
    },
    stop: () => worker.stop(),
  };
}
