// Runs short commands (git) from a small helper process instead of the worker itself.
//
// Why: on Linux, Node forks the whole process to start a child and blocks its event loop until the
// child has exec'd. The worker holds about 250 MiB, so each fork stalled its event loop for 10 to
// 80 ms (more on a busy machine): with a dozen git processes per task, `ChildProcess.spawn` was the
// worker's top function, and at 50+ concurrent tasks the stalls starved heartbeats (BENCHMARKS.md).
// A helper of about 40 MiB forks in a fraction of that, and its stalls never hold up the worker.
// The helper starts on first use, is shared by every activity of the process, exits when its parent
// does (IPC disconnect), and is restarted if it dies; without it (it cannot start), commands run
// directly as before.
import { spawn, type ChildProcess } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

interface Request {
  id: number;
  file: string;
  args: string[];
  cwd: string;
}

// The helper's program, run with `node -e` so it needs no file of its own (sources or dist alike).
// It ignores SIGINT/SIGTERM sent to the process group (Ctrl-C on `agentvisor run`): the worker
// shuts down gracefully and may still need git for compensations; it exits when the worker is gone.
const HELPER = `
const { spawn } = require('node:child_process');
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  const out = [], err = [];
  let child;
  try {
    child = spawn(m.file, m.args, { cwd: m.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    process.send({ id: m.id, code: 127, stdout: '', stderr: String(e && e.message) });
    return;
  }
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => err.push(d));
  child.on('error', (e) => err.push(Buffer.from(String(e && e.message))));
  child.on('close', (code, signal) => process.send({
    id: m.id,
    code: code === null ? 128 + (require('node:os').constants.signals[signal] || 0) : code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  }));
});
`;

let helper: ChildProcess | undefined;
let failedToStart = false;
let nextId = 1;
const pending = new Map<number, { resolve: (r: CommandResult) => void; reject: (e: Error) => void }>();

function startHelper(): ChildProcess | undefined {
  if (helper || failedToStart) return helper;
  try {
    const child = spawn(process.execPath, ['-e', HELPER], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: process.env });
    child.on('message', (m: CommandResult & { id: number }) => {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (pending.size === 0) child.channel?.unref();
      p.resolve({ code: m.code, stdout: m.stdout, stderr: m.stderr });
    });
    const gone = (why: string) => {
      if (helper !== child) return;
      helper = undefined;
      for (const [id, p] of pending) {
        pending.delete(id);
        p.reject(new Error(`the command helper process ${why}`));
      }
    };
    child.on('exit', (code, signal) => gone(`exited (${signal ?? code})`));
    child.on('error', (e) => {
      failedToStart = !child.pid;
      gone(`failed: ${e.message}`);
    });
    // an idle helper must not keep a script or test process alive
    child.unref();
    child.channel?.unref();
    helper = child;
  } catch {
    failedToStart = true;
  }
  return helper;
}

/** Runs `file args` in `cwd` (never through a shell); resolves with its exit code and output. */
export function runCommand(file: string, args: string[], cwd: string): Promise<CommandResult> {
  const child = startHelper();
  if (!child?.connected) return runDirectly(file, args, cwd);
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.channel?.ref();
    child.send({ id, file, args, cwd } satisfies Request, (err) => {
      if (!err) return;
      pending.delete(id);
      if (pending.size === 0) child.channel?.unref();
      // the helper went away between the check and the send: do it here
      runDirectly(file, args, cwd).then(resolve, reject);
    });
  });
}

function runDirectly(file: string, args: string[], cwd: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const child = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => err.push(Buffer.from(e.message)));
    child.on('close', (code) =>
      resolve({ code: code ?? 128, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
  });
}

/** Stops the helper (tests; a process that wants to exit at once). */
export function stopCommandHelper(): void {
  helper?.kill();
  helper = undefined;
}
