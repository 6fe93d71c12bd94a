// A hard disk limit for a folder an agent writes: the folder is the mount point of its own small
// ext4 filesystem, kept in a sparse file beside it and mounted through a loop device. The kernel
// refuses writes past its size (ENOSPC), so the host's free space drops by at most that size, however
// the agent writes (many small files, one large one, hard links, holes filled later). Cheap: the file
// starts at a few megabytes whatever its size, and mkfs + mount take about 25 ms here (README,
// "Resource limits").
//
// The API is small so that whatever makes a workspace can call it: mountLimitedDir before filling the
// folder, releaseLimitedDir to remove it, isDiskFull while an agent runs. It needs root and loop
// devices (Linux); a worker without them runs with AGENTVISOR_LIMIT_DISK=off.
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, readlink, rename, rm, rmdir, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { runCommand } from './spawner';

/** The reason a task fails with when its agent filled its workspace (or the shared one). */
export const DISK_LIMIT_EXCEEDED = 'disk limit exceeded';

/** The sparse file holding a folder's filesystem: a hidden file beside the folder. */
export const IMAGE_SUFFIX = '.disk-limit.img';
export const imageOf = (dir: string) => path.join(path.dirname(dir), `.${path.basename(dir)}${IMAGE_SUFFIX}`);
/** The folder an image file (as imageOf names it) belongs to; undefined for other names. */
export function dirOfImage(file: string): string | undefined {
  const name = path.basename(file);
  if (!name.startsWith('.') || !name.endsWith(IMAGE_SUFFIX)) return undefined;
  return path.join(path.dirname(file), name.slice(1, -IMAGE_SUFFIX.length));
}

/** Smallest size accepted: ext4 with its journal needs a few megabytes of its own. */
export const MIN_LIMITED_BYTES = 16 * 1024 ** 2;

type Owner = { uid: number; gid: number } | undefined;

/**
 * Makes `dir` an empty folder holding at most `bytes`: a fresh filesystem mounted there. Idempotent:
 * a folder already mounted is left as it is (with what it holds), and an image whose mount went (a
 * reboot) is mounted again. A plain folder already at `dir` is replaced. The root of the new
 * filesystem belongs to `owner` (the agents' user) when given.
 */
export async function mountLimitedDir(dir: string, bytes: number, owner?: Owner): Promise<void> {
  if (!Number.isFinite(bytes) || bytes < MIN_LIMITED_BYTES)
    throw new Error(`a disk limit of ${bytes} bytes is below ${MIN_LIMITED_BYTES} bytes`);
  await serially(async () => {
    if (await isMountPoint(dir)) return;
    const problem = await engineNamespaceProblem();
    if (problem) {
      throw ApplicationFailure.nonRetryable(
        `disk limit: ${problem}; run the worker in the engine's mount namespace (nsenter --net=… rather than ip netns exec), or with AGENTVISOR_LIMIT_DISK=off`,
        'DiskLimitUnavailable',
      );
    }
    const image = imageOf(dir);
    await mkdir(path.dirname(dir), { recursive: true });
    const fresh = !existsSync(image);
    if (fresh) {
      // nothing of value can be in a plain folder here: it would only be hidden under the mount
      await rm(dir, { recursive: true, force: true });
      // made under another name and renamed once whole: an image is never half made
      const making = `${image}.new`;
      await writeFile(making, '', { mode: 0o600 });
      await truncate(making, Math.floor(bytes / 4096) * 4096); // sparse: no block is used yet
      // -m 0: no blocks kept for root (the agent is never root); lazy init: the file reads as
      // zeros, so mkfs need not write the inode tables or the journal (a 10 GiB image stays ~4 MB)
      const owned = owner ? `,root_owner=${owner.uid}:${owner.gid}` : '';
      await must(
        'mkfs.ext4',
        ['-q', '-F', '-m', '0', '-E', `lazy_itable_init=1,lazy_journal_init=1,nodiscard${owned}`, making],
        path.dirname(dir),
      );
      await rename(making, image);
    }
    await mkdir(dir, { recursive: true });
    // nosuid, nodev: nothing the agent leaves there gains privileges on the host
    await must('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev,noinit_itable', image, dir], path.dirname(dir));
    if (!(await isMountPoint(dir))) {
      throw ApplicationFailure.nonRetryable(
        `disk limit: ${dir} was mounted but this worker does not see the mount (its mount namespace does not receive the host's mounts); run the worker in the host's mount namespace, or with AGENTVISOR_LIMIT_DISK=off`,
        'DiskLimitUnavailable',
      );
    }
    if (fresh) await rmdir(path.join(dir, 'lost+found')).catch(() => undefined);
  });
}

/**
 * Mounts `dir`'s filesystem again if its image is there but the mount is not (the host rebooted
 * while a run went on); nothing otherwise. Never makes a new one: a folder without an image (no
 * disk limit) is left as it is.
 */
export async function remountLimitedDir(dir: string): Promise<void> {
  if (existsSync(imageOf(dir)) && !(await isMountPoint(dir))) await mountLimitedDir(dir, MIN_LIMITED_BYTES);
}

/**
 * Unmounts `dir` (if mounted) and deletes it and its image: the filesystem goes at once, however many
 * files it holds. True when there was something to remove.
 */
export async function releaseLimitedDir(dir: string): Promise<boolean> {
  return serially(async () => {
    const image = imageOf(dir);
    let found = existsSync(image) || existsSync(dir);
    if (await isMountPoint(dir)) {
      found = true;
      const r = await runCommand('umount', [dir], '/');
      // busy (a process on the host still in it): detach now, the kernel frees it when unused
      if (r.code !== 0) await must('umount', ['--lazy', dir], '/');
    }
    await rm(dir, { recursive: true, force: true });
    await rm(image, { force: true });
    await rm(`${image}.new`, { force: true });
    return found;
  });
}

/**
 * Whether the limited filesystem at `dir` is full: (nearly) no block or no inode left for the
 * agent. False for a folder that is not one (no disk limit, or not mounted).
 */
export async function isDiskFull(dir: string): Promise<boolean> {
  if (!(await isMountPoint(dir))) return false;
  const s = await statfs(dir).catch(() => undefined);
  if (!s) return false;
  const total = s.blocks * s.bsize;
  const left = s.bavail * s.bsize;
  // ext4 keeps a little back from ordinary writes (a small fs refused the last ~450 KiB of 56 MiB)
  return left < Math.max(1024 ** 2, total / 100) || s.ffree === 0;
}

/**
 * Makes a limited folder a plain one with the same files (a kept shared workspace once its run is
 * over: it is not written any more, and a mount would not survive a reboot). True when it was one.
 */
export async function settleLimitedDir(dir: string): Promise<boolean> {
  if (!(await isMountPoint(dir)) && !existsSync(imageOf(dir))) return false;
  if (!(await isMountPoint(dir))) await mountLimitedDir(dir, MIN_LIMITED_BYTES); // its image, mounted again
  const plain = path.join(path.dirname(dir), `.${path.basename(dir)}.settling`);
  await rm(plain, { recursive: true, force: true });
  await mkdir(plain);
  const r = await runCommand('cp', ['-a', '--', `${dir}/.`, plain], path.dirname(dir));
  if (r.code !== 0) throw new Error(`cannot copy ${dir} out of its filesystem: ${r.stderr.trim()}`);
  await releaseLimitedDir(dir);
  await rename(plain, dir);
  return true;
}

/**
 * The limited folders under `parent` and the images left without one: what `agentvisor gc`
 * releases for runs that are over. Returns the folders released.
 */
export async function releaseLimitedDirsUnder(parent: string): Promise<string[]> {
  const names = existsSync(parent) ? await readdir(parent) : [];
  const released: string[] = [];
  for (const name of names) {
    const dir = dirOfImage(path.join(parent, name));
    if (dir && (await releaseLimitedDir(dir))) released.push(dir);
  }
  return released;
}

/** A mount point: a folder on another device than its parent. */
async function isMountPoint(dir: string): Promise<boolean> {
  try {
    const [own, parent] = await Promise.all([stat(dir), stat(path.dirname(dir))]);
    return own.isDirectory() && own.dev !== parent.dev;
  } catch {
    return false;
  }
}

/**
 * A worker in another mount namespace than the local Docker engine (`ip netns exec` gives a process
 * one of its own) makes mounts the engine never sees: containers would get the empty folder beneath,
 * and writes there would be bounded by nothing. Refused, saying so. (Checked when the engine's
 * process can be found: the local engine, its pid file readable.)
 */
let namespaceProblem: Promise<string | undefined> | undefined;
export function engineNamespaceProblem(): Promise<string | undefined> {
  namespaceProblem ??= (async () => {
    if (process.env.DOCKER_HOST) return undefined;
    const pidFile = ['/var/run/docker.pid', '/run/docker.pid'].find((f) => existsSync(f));
    if (!pidFile) return undefined;
    try {
      const pid = (await readFile(pidFile, 'utf8')).trim();
      const [own, engine] = await Promise.all([readlink('/proc/self/ns/mnt'), readlink(`/proc/${pid}/ns/mnt`)]);
      return own === engine
        ? undefined
        : `this worker's mount namespace (${own}) is not the Docker engine's (${engine}): containers would not see its disk-limit mounts`;
    } catch {
      return undefined;
    }
  })();
  return namespaceProblem;
}

async function must(file: string, args: string[], cwd: string): Promise<void> {
  const r = await runCommand(file, args, cwd);
  if (r.code === 0) return;
  const why = (r.stderr || r.stdout).trim() || `exit ${r.code}`;
  // a worker that cannot make loop mounts will not by retrying: say what to do instead
  throw ApplicationFailure.nonRetryable(
    `disk limit: ${file} ${args.join(' ')} failed: ${why} (the disk limit needs root and loop devices; a worker without them runs with AGENTVISOR_LIMIT_DISK=off)`,
    'DiskLimitUnavailable',
  );
}

/** One mount or unmount at a time in this process: concurrent loop set-ups may race for a device. */
let chain: Promise<unknown> = Promise.resolve();
function serially<T>(work: () => Promise<T>): Promise<T> {
  const mine = chain.catch(() => undefined).then(work);
  chain = mine.catch(() => undefined);
  return mine;
}
