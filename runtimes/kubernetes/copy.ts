// Directories into and out of a pod through the API server (pods/exec, as `kubectl cp` does): tar on
// the worker's side, tar in the pod's copy-in or copy-out container. The pod needs no credentials and
// no network for its workspace; the worker needs the right to exec into its namespace's pods.
import type { Exec, V1Status } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lchown, lstat, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
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
  const ws = await t.exec.exec(
    t.namespace,
    t.pod,
    container,
    command,
    io.stdout ?? null,
    err,
    io.stdin ?? null,
    false,
    (s) => (status = s),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`${command.join(' ')} in ${t.pod}/${container} took longer than ${EXEC_TIMEOUT_MS / 60_000} minutes`));
    }, EXEC_TIMEOUT_MS);
    // A command that read all its input may exit, and the API server close the connection, while
    // the end of our input is still being sent: that write fails (EPIPE) after the exit status came.
    // The status decides; a socket error fails the exec only when no status came before the close.
    let failure: Error | undefined;
    ws.on('error', (e: Error) => (failure ??= e));
    ws.on('close', () => {
      clearTimeout(timer);
      if (failure && !status) reject(failure);
      else resolve();
    });
  });
  if (status?.status !== 'Success') {
    throw new Error(
      `${command[0]} in pod ${t.pod} (${container}) failed: ${status?.message ?? 'no exit status'}${stderr.trim() ? `: ${stderr.trim()}` : ''}`,
    );
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
      // the folder's entries, not `.`: the volume's own folder in the pod belongs to root (an
      // emptyDir, group fsGroup), and its user may not give it the mode and time `.` would carry
      const list = path.join(scratch, `${m.volume}.list`);
      await writeFile(list, (await readdir(m.source)).map((e) => `${e}\0`).join(''));
      await tar(['-c', '-f', archive, '-C', m.source, '--null', '--verbatim-files-from', '-T', list], {}).done;
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
 * How the worker extracts what a pod sends back (the agent wrote it, so it may be hostile): as the
 * worker's own user whatever the archive says (the worker often runs as root, which tar would let
 * restore owners), permissions without setuid, setgid and sticky bits (and the umask applied), no
 * ACLs or extended attributes (file capabilities). GNU tar itself refuses names with `..`, strips a
 * leading `/` from names and hard-link targets, and makes symlinks last, so nothing is written
 * through one; confineExtracted checks the result whatever tar did.
 */
export const EXTRACT_UNTRUSTED = ['-x', '--no-same-owner', '--no-same-permissions', '--no-acls', '--no-xattrs'];

/**
 * Copies each writable mount's volume back over its source directory (files the container deleted
 * go; its .git too: the workspace is the agent's own repository), then lets the copy-out container end.
 */
export async function copyOut(t: Target, mounts: MountPlan[]): Promise<void> {
  for (const m of mounts.filter((x) => !x.readOnly)) {
    // The scratch folder is inside the source, so its entries move by rename: a workspace with a
    // disk limit is a filesystem of its own (activities/disk-limit.ts), and a rename cannot leave
    // it. The old entries go first, so the copy needs no more room than the pod's. (The pod keeps
    // its volume until the marker below: a copy that fails half-way is done again from there.)
    // All of it, .git too: the workspace is the agent's own repository (activities/workspace.ts).
    await mkdir(m.source, { recursive: true });
    const scratchName = `.agentvisor-copy-out-${randomBytes(4).toString('hex')}`;
    const scratch = path.join(m.source, scratchName);
    try {
      for (const entry of await readdir(m.source))
        if (entry !== scratchName) await rm(path.join(m.source, entry), { recursive: true, force: true });
      await mkdir(scratch, { mode: 0o755 });
      const local = tar([...EXTRACT_UNTRUSTED, '-f', '-', '-C', scratch], {});
      const remote = execIn(t, COPY_OUT, ['tar', '-c', '-f', '-', '-C', m.volume, '.'], { stdout: local.stdin }).finally(() =>
        local.stdin.end(),
      );
      await Promise.all([remote, local.done]);
      await confineExtracted(scratch);
      for (const entry of await readdir(scratch)) await rename(path.join(scratch, entry), path.join(m.source, entry));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  await execIn(t, COPY_OUT, ['touch', DONE_MARKER]);
}

/**
 * Makes what was extracted into `root` hold only what a worktree may, whatever the archive and tar
 * did: directories, regular files and symlinks (devices, FIFOs and sockets, which root's tar would
 * create, are removed: git keeps none of them), owned by the worker's user, without setuid, setgid
 * or sticky bits. A regular file with a hard link outside `root` fails the copy: the worker would
 * read a file of its own machine as the agent's work.
 */
export async function confineExtracted(root: string): Promise<void> {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  /** inode → its links inside root, and how many it has in all */
  const linked = new Map<string, { seen: number; nlink: number; first: string }>();
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p);
    if (!st.isDirectory() && !st.isFile() && !st.isSymbolicLink()) {
      await rm(p, { force: true });
      return;
    }
    if (uid !== undefined && gid !== undefined && (st.uid !== uid || st.gid !== gid)) await lchown(p, uid, gid);
    if (st.isSymbolicLink()) return; // the link itself is the work; nothing follows it here
    if (st.mode & 0o7000) await chmod(p, st.mode & 0o777);
    if (st.isDirectory()) {
      for (const name of await readdir(p)) await visit(path.join(p, name));
    } else if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const entry = linked.get(key) ?? { seen: 0, nlink: st.nlink, first: p };
      entry.seen++;
      linked.set(key, entry);
    }
  };
  await visit(root);
  for (const { seen, nlink, first } of linked.values()) {
    if (seen < nlink) throw new Error(`copy-out refused: ${path.relative(root, first)} is a hard link to a file outside the copied folder`);
  }
}
