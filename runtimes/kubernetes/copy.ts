// Directories into and out of a pod through the API server (pods/exec, as `kubectl cp` does): tar on
// the worker's side, tar in the pod's copy-in or copy-out container. The pod needs no credentials and
// no network for its workspace; the worker needs the right to exec into its namespace's pods.
import type { Exec, V1Status } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { COPY_IN, COPY_OUT, DONE_MARKER, READY_MARKER, type MountPlan } from './objects';

/** One exec may not hang an activity for ever (a stalled stream): a copy gets this long. */
const EXEC_TIMEOUT_MS = 10 * 60_000;

interface Target {
  exec: Exec;
  namespace: string;
  pod: string;
}

/** Runs `command` in a container of the pod; resolves when it exited 0, else rejects with its stderr. */
async function execIn(t: Target, container: string, command: string[], io: { stdin?: Readable; stdout?: Writable } = {}): Promise<void> {
  let status: V1Status | undefined;
  let stderr = '';
  const err = new PassThrough();
  err.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
  const ws = await t.exec.exec(t.namespace, t.pod, container, command, io.stdout ?? null, err, io.stdin ?? null, false, (s) => (status = s));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`${command.join(' ')} in ${t.pod}/${container} took longer than ${EXEC_TIMEOUT_MS / 60_000} minutes`));
    }, EXEC_TIMEOUT_MS);
    ws.on('close', () => (clearTimeout(timer), resolve()));
    ws.on('error', (e: Error) => (clearTimeout(timer), reject(e)));
  });
  if (status?.status !== 'Success') {
    throw new Error(`${command[0]} in pod ${t.pod} (${container}) failed: ${status?.message ?? 'no exit status'}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
  }
}

/** A local tar process; resolves when it exits 0. */
function tar(args: string[], io: { stdin?: Readable; stdout?: Writable }): { done: Promise<void>; stdin: Writable; stdout: Readable } {
  const child = spawn('tar', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  if (io.stdin) io.stdin.pipe(child.stdin);
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar ${args.join(' ')} exited ${code}: ${stderr.trim()}`))));
  });
  return { done, stdin: child.stdin, stdout: child.stdout };
}

/**
 * Copies each mount's source directory into its volume, then drops the marker that lets the
 * copy-in container (and so the pod's main container) go on. A repeated copy starts from empty.
 * The archive is made first, so the pod's side reads exactly its size (`head -c`) rather than up
 * to the end of its input, which not every exec implementation passes on (kwok's does not).
 */
export async function copyIn(t: Target, mounts: MountPlan[]): Promise<void> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'agentvisor-copy-in-'));
  try {
    for (const m of mounts) {
      const archive = path.join(scratch, `${m.volume}.tar`);
      await tar(['-c', '-f', archive, '-C', m.source, '.'], {}).done;
      const size = (await stat(archive)).size;
      const script = `mkdir -p ${m.volume} && find ${m.volume} -mindepth 1 -delete && head -c ${size} | tar -x -f - -C ${m.volume}`;
      await execIn(t, COPY_IN, ['sh', '-c', script], { stdin: createReadStream(archive) });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  await execIn(t, COPY_IN, ['touch', READY_MARKER]);
}

/**
 * Copies each writable mount's volume back over its source directory (the worktree: files the
 * container deleted go, its .git stays the worker's), then lets the copy-out container end.
 */
export async function copyOut(t: Target, mounts: MountPlan[]): Promise<void> {
  for (const m of mounts.filter((x) => !x.readOnly)) {
    // The scratch folder is inside the source, so its entries move by rename: a workspace with a
    // disk limit is a filesystem of its own (activities/disk-limit.ts), and a rename cannot leave
    // it. The old entries go first, so the copy needs no more room than the pod's. (The pod keeps
    // its volume until the marker below: a copy that fails half-way is done again from there.)
    await mkdir(m.source, { recursive: true });
    const scratchName = `.agentvisor-copy-out-${randomBytes(4).toString('hex')}`;
    const scratch = path.join(m.source, scratchName);
    const kept = (entry: string) => entry === '.git' || entry === scratchName;
    try {
      for (const entry of await readdir(m.source)) if (!kept(entry)) await rm(path.join(m.source, entry), { recursive: true, force: true });
      await mkdir(scratch);
      const local = tar(['-x', '-f', '-', '-C', scratch], {});
      const remote = execIn(t, COPY_OUT, ['tar', '-c', '-f', '-', '-C', m.volume, '.'], { stdout: local.stdin }).finally(() => local.stdin.end());
      await Promise.all([remote, local.done]);
      for (const entry of await readdir(scratch)) if (entry !== '.git') await rename(path.join(scratch, entry), path.join(m.source, entry));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  await execIn(t, COPY_OUT, ['touch', DONE_MARKER]);
}
