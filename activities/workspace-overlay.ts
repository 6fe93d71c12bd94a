// A task's workspace as a copy-on-write overlay: what a workspace costs is what its agent changes,
// not the size of the repository.
//
// The run keeps one checkout of each start commit its tasks use, its base (workspace.ts makes it:
// its files, and its `.git` with an index made there, owned by the agents' user). A task's
// workspace is an overlay filesystem the worker mounts: the base as its lower layer, which the
// kernel never writes, and the task's own upper layer, where every write of the agent lands (a
// changed file is copied up whole; a deletion is a whiteout). So an agent sees only its workspace,
// cannot change the base, and its writes are never seen by another agent or the next task: a retry
// gets a new, empty upper layer. The container bind-mounts the overlay like any folder, and the
// collector reads it like any repository (deletions and `.git` edits included). The files of the
// base keep their inode, size and times in the overlay, so the index made in the base matches them
// and git in the collector does not hash 100,000 files again.
//
// The upper layer and the overlay's work folder are in the task's layer folder, beside the
// workspace (`.NAME.layer`). DISK LIMIT: with a disk limit the layer folder is a filesystem of that
// size (disk-limit.ts): the agent's writes, copy-ups included, can take no more; statfs of the
// overlay reports that filesystem, so isDiskFull(workspace) sees it fill.
//
// It needs root (mount) and a worker in the Docker engine's mount namespace (as the disk limit);
// AGENTVISOR_WORKSPACE=copy makes every workspace a fresh checkout instead, as before.
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { BadInputError } from '../graph/problems';
import { engineNamespaceProblem, mountLimitedDir, releaseLimitedDir, remountLimitedDir } from './disk-limit';
import { chownTree } from './sandbox-user';
import { runCommand } from './spawner';

/** How the worker makes the tasks' workspaces. */
export type WorkspaceMode = 'overlay' | 'copy';

const OVERLAYFS_MAGIC = 0x794c7630;

/**
 * AGENTVISOR_WORKSPACE: `overlay`, `copy`, or unset/`auto`: an overlay where the worker can mount
 * one for its containers (root, Linux, the Docker runtime; a Kubernetes pod gets a copy of the
 * workspace by tar, so it keeps the plain copy), a copy elsewhere.
 */
export function workspaceMode(runtimeKind: string): WorkspaceMode {
  const wanted = process.env.AGENTVISOR_WORKSPACE ?? 'auto';
  if (wanted === 'overlay' || wanted === 'copy') return wanted;
  if (wanted !== 'auto') throw new BadInputError([{ message: `AGENTVISOR_WORKSPACE must be overlay, copy or auto, not "${wanted}"` }]);
  return process.platform === 'linux' && process.getuid?.() === 0 && runtimeKind === 'docker' ? 'overlay' : 'copy';
}

/** The task's own layer: its upper folder and the overlay's work folder, beside the workspace. */
export const layerOf = (dir: string) => path.join(path.dirname(dir), `.${path.basename(dir)}.layer`);
const upperOf = (dir: string) => path.join(layerOf(dir), 'upper');
const workOf = (dir: string) => path.join(layerOf(dir), 'work');
/** Which base the overlay was made on: read to mount it again after a reboot. */
const lowerFileOf = (dir: string) => path.join(layerOf(dir), 'lower');

/**
 * Mounts `dir` as an overlay of `base` and a new upper layer owned by `owner` (of `diskBytes` at
 * most, when given), which `seed` fills first. `dir` must be absent or empty.
 */
export async function mountOverlayWorkspace(opts: {
  dir: string;
  base: string;
  owner: { uid: number; gid: number };
  diskBytes?: number;
  /** writes the task's first files into the upper folder, before the mount (never after: the overlay caches what it saw) */
  seed: (upper: string) => Promise<void>;
}): Promise<void> {
  const { dir, base, owner } = opts;
  const layer = layerOf(dir);
  if (opts.diskBytes) await mountLimitedDir(layer, opts.diskBytes);
  else await mkdir(layer, { recursive: true });
  // the layer's root is the worker's: only the upper folder is seen by the agent, as /workspace
  await chown(layer, 0, 0);
  await mkdir(upperOf(dir));
  await opts.seed(upperOf(dir));
  await chownTree(upperOf(dir), owner.uid, owner.gid);
  await mkdir(workOf(dir), { mode: 0o700 });
  await writeFile(lowerFileOf(dir), base, { mode: 0o600 });
  await mkdir(dir, { recursive: true });
  await mountOverlay(dir, base);
}

async function mountOverlay(dir: string, base: string): Promise<void> {
  const problem = await engineNamespaceProblem();
  if (problem) {
    throw ApplicationFailure.nonRetryable(
      `copy-on-write workspace: ${problem}; run the worker in the engine's mount namespace, or with AGENTVISOR_WORKSPACE=copy`,
      'OverlayUnavailable',
    );
  }
  for (const p of [base, upperOf(dir), workOf(dir)]) {
    // overlay's option syntax gives these characters a meaning
    if (/[,:\\]/.test(p))
      throw ApplicationFailure.nonRetryable(`copy-on-write workspace: the path ${p} holds a , : or \\`, 'OverlayUnavailable');
  }
  // nosuid, nodev: nothing the agent leaves there gains privileges on the host
  const options = `lowerdir=${base},upperdir=${upperOf(dir)},workdir=${workOf(dir)}`;
  const r = await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', `nosuid,nodev,${options}`, dir], '/');
  if (r.code !== 0) {
    throw ApplicationFailure.nonRetryable(
      `copy-on-write workspace: mount -t overlay failed: ${(r.stderr || r.stdout).trim() || `exit ${r.code}`} (it needs root and overlayfs; a worker without them runs with AGENTVISOR_WORKSPACE=copy)`,
      'OverlayUnavailable',
    );
  }
}

/** Whether `dir` is an overlay mount. */
async function isOverlay(dir: string): Promise<boolean> {
  const s = await statfs(dir).catch(() => undefined);
  return s?.type === OVERLAYFS_MAGIC;
}

/**
 * Unmounts the overlay at `dir` (if there is one) and removes it and its layer (unmounted first when
 * it is a disk-limited filesystem). Nothing for a workspace that is not an overlay.
 */
export async function releaseOverlayWorkspace(dir: string): Promise<void> {
  if (await isOverlay(dir)) {
    const r = await runCommand('umount', [dir], '/');
    // busy (a process on the host still in it): detach now, the kernel frees it when unused
    if (r.code !== 0) {
      const lazy = await runCommand('umount', ['--lazy', dir], '/');
      if (lazy.code !== 0) throw new Error(`cannot unmount the workspace ${dir}: ${lazy.stderr.trim()}`);
    }
    // the (now empty) mount point only: never a recursive delete through an overlay
    await rm(dir, { recursive: true, force: true });
  }
  await releaseLimitedDir(layerOf(dir));
}

/**
 * After a reboot the layer and the base are there, but not the mounts: mounted again (the layer's
 * filesystem first). Nothing for a workspace that is not an overlay, or one still mounted.
 */
export async function remountOverlayWorkspace(dir: string): Promise<boolean> {
  if (!existsSync(layerOf(dir))) return false;
  await remountLimitedDir(layerOf(dir));
  if (await isOverlay(dir)) return true;
  const base = (await readFile(lowerFileOf(dir), 'utf8')).trim();
  await mkdir(dir, { recursive: true });
  await mountOverlay(dir, base);
  return true;
}

/**
 * The overlays under `parent` unmounted, and their layers removed: first of what `agentvisor gc`
 * and `rm` do with a run's workspaces (a crashed worker's are still mounted).
 */
export async function releaseOverlaysUnder(parent: string): Promise<string[]> {
  const names = existsSync(parent) ? await readdir(parent) : [];
  // a workspace, or a layer alone (a worker that died between mounting the one and the other)
  const dirs = new Set(names.map((name) => path.join(parent, /^\.(.+)\.layer$/.exec(name)?.[1] ?? name)));
  const released: string[] = [];
  for (const dir of dirs) {
    if ((await isOverlay(dir)) || existsSync(layerOf(dir))) {
      await releaseOverlayWorkspace(dir);
      released.push(dir);
    }
  }
  return released;
}
