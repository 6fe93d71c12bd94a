// The shared workspace of a run with a remote. On one machine it is one folder that every agent
// with access mounts. Across hosts it is a ref of the remote, sharedRef(run): a commit whose tree is
// the workspace's files. Each task gets a copy of its own on its host:
// - before its agent starts, the copy is made from the ref as the remote has it then;
// - after its agent ends, what a `shared: rw` agent changed in its copy is committed and pushed
//   onto the ref, file by file on top of what others pushed meanwhile: of two tasks that changed
//   one file, the one that pushes later wins. A `shared: ro` agent's copy is mounted read-only and
//   nothing of it leaves the host;
// - while a `shared: ro` agent runs, its copy follows the ref every few seconds.
// The copy is agent-writable: the agent's data. The worker runs git on it only while no container
// has it mounted (before the agent starts, after it ended), with the clone as GIT_DIR and an index
// of its own outside the copy, without hooks, fsmonitor, system or global configuration. git
// records a symlink as a link and never follows one, and nothing here reads a file by its path.
// (While an rw agent runs, a host process reading its folder could be raced into following a link
// swapped in behind its back: that is why its writes leave only when it ends.)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { sharedRef, type TaskInput } from '../contract/run-types';
import { sharedCopiesDir, sharedDir } from '../paths/run-folder';
import type { LocalActivities } from './local';
import { withHeartbeat } from './heartbeat';
import { git as inClone, isAncestor } from './git';
import { chownTree, sandboxUser } from './sandbox-user';

const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
/** How often a read-only copy takes what others pushed while its agent runs. */
const FOLLOW_EVERY_MS = 3000;
/** Tries to push onto a ref other hosts push to at the same time. */
const PUSH_ATTEMPTS = 8;

/** git in the clone, on the copy as its work tree, with an index of the copy's own; safe settings only. */
function gitOn(clone: string, work: { folder: string; index: string }, args: string[], input?: string): Promise<string> {
  const argv = [
    ...['safe.directory=' + clone, 'safe.directory=' + work.folder, 'core.hooksPath=/dev/null', 'core.fsmonitor=false'],
    ...['core.symlinks=true', 'core.autocrlf=false', 'user.name=agentvisor', 'user.email=agentvisor@localhost'],
  ].flatMap((c) => ['-c', c]);
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    GIT_DIR: clone,
    GIT_WORK_TREE: work.folder,
    GIT_INDEX_FILE: work.index,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
  };
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...argv, ...args], { cwd: clone, env, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`git ${args.join(' ')} failed (exit ${code}): ${err.trim() || out.trim()}`)),
    );
    if (child.stdin) {
      // git that exits before reading all of it fails on its own; the pipe's error is not news
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    }
  });
}

export function remoteSharedWorkspace(local: LocalActivities) {
  const owner = (() => {
    const u = sandboxUser();
    return u.chownWorktrees ? { uid: u.uid, gid: u.gid } : undefined;
  })();
  /** Where a task's copy lives in the run's folder on this host. */
  const copyOf = (dir: string, taskId: string) => {
    const home = path.join(sharedCopiesDir(dir), taskId);
    return { home, folder: sharedDir(home), index: path.join(home, 'index'), start: path.join(home, 'start') };
  };
  /**
   * The ref's commit on the remote, fetched into the clone; '' when no task has pushed yet. Fetch
   * and push use the worker's own git setup (its credentials), in the clone only.
   */
  const fetchShared = async (clone: string, runId: string): Promise<string> => {
    const ref = sharedRef(runId);
    const line = (await inClone(clone).raw(['ls-remote', 'origin', ref])).trim();
    if (!line) return '';
    await inClone(clone).raw(['fetch', '--quiet', '--no-write-fetch-head', 'origin', `+${ref}:${ref}`]);
    return line.split('\t')[0];
  };

  return {
    /** The task's copy of the shared workspace, made from the remote's ref once (a re-attach keeps it). */
    async copyIn(clone: string, dir: string, input: TaskInput): Promise<string> {
      const copy = copyOf(dir, input.taskId);
      if (existsSync(copy.start)) return copy.folder;
      return withHeartbeat('copy the shared workspace in', async () => {
        await local.removeSharedWorkspace({ artifactsDir: copy.home }); // a copy cut short by a crash
        await local.createSharedWorkspace({ runId: input.runId, artifactsDir: copy.home }); // its disk limit, its owner
        const git = (args: string[], stdin?: string) => gitOn(clone, copy, args, stdin);
        const start = await fetchShared(clone, input.runId);
        if (start) {
          await git(['read-tree', start]);
          await git(['checkout-index', '--all', '--force']);
          if (owner) await chownTree(copy.folder, owner.uid, owner.gid);
        } else {
          await git(['read-tree', '--empty']);
        }
        await writeFile(copy.start, start);
        return copy.folder;
      });
    },

    /**
     * What the agent changed in its copy, pushed onto the ref: each file it added, changed or
     * deleted since its copy was made, over the ref as it is now. Idempotent: pushed once, a retry
     * finds nothing left to push.
     */
    async publish(clone: string, dir: string, input: TaskInput): Promise<void> {
      const copy = copyOf(dir, input.taskId);
      const git = (args: string[], stdin?: string) => gitOn(clone, copy, args, stdin);
      await withHeartbeat('push the shared workspace', async () => {
        const start = (await readFile(copy.start, 'utf8')).trim();
        await git(['add', '--all', '--', '.']);
        const tree = (await git(['write-tree'])).trim();
        const startTree = start ? (await git(['rev-parse', `${start}^{tree}`])).trim() : EMPTY_TREE;
        if (tree === startTree) return; // it changed nothing
        const mine = (
          await git(['commit-tree', tree, ...(start ? ['-p', start] : []), '-m', `agentvisor: shared workspace after task ${input.taskId}`])
        ).trim();
        const changes = parseDiffTree(await git(['diff-tree', '-r', '-z', '--no-renames', start || EMPTY_TREE, mine]));
        const merging = { folder: copy.folder, index: `${copy.index}.merge` };
        for (let attempt = 1; ; attempt++) {
          const theirs = await fetchShared(clone, input.runId);
          let next = mine;
          if (theirs && theirs !== start) {
            if (await isAncestor(clone, mine, theirs)) return; // pushed by an earlier attempt
            // their files, with this task's changes on top: the later push wins per file
            await gitOn(clone, merging, ['read-tree', theirs]);
            await gitOn(clone, merging, ['update-index', '-z', '--index-info'], changes.map(indexLine).join(''));
            const merged = (await gitOn(clone, merging, ['write-tree'])).trim();
            await rm(merging.index, { force: true });
            if (merged === (await git(['rev-parse', `${theirs}^{tree}`])).trim()) return;
            next = (
              await git([
                'commit-tree',
                merged,
                '-p',
                theirs,
                '-p',
                mine,
                '-m',
                `agentvisor: shared workspace, task ${input.taskId} merged`,
              ])
            ).trim();
          }
          try {
            // only over the commit just read: another host's push in between sends this round again
            const ref = sharedRef(input.runId);
            await inClone(clone).raw(['push', '--quiet', '--no-verify', `--force-with-lease=${ref}:${theirs}`, 'origin', `${next}:${ref}`]);
            return;
          } catch (err) {
            if (attempt >= PUSH_ATTEMPTS) throw err;
          }
        }
      });
    },

    /**
     * A read-only copy follows the ref while its agent runs: every few seconds, what other tasks
     * pushed meanwhile is checked out into it. Safe while the agent runs because the agent cannot
     * write to the copy (its mount is read-only), so nothing in it can change behind git's back.
     * A failed round is tried again at the next; the agent's run never depends on it.
     */
    follow(clone: string, dir: string, input: TaskInput, onError: (err: unknown) => void): { stop: () => Promise<void> } {
      const copy = copyOf(dir, input.taskId);
      const git = (args: string[]) => gitOn(clone, copy, args);
      let stopped = false;
      let wake: (() => void) | undefined;
      const round = async () => {
        const current = (await readFile(copy.start, 'utf8')).trim();
        const theirs = await fetchShared(clone, input.runId);
        if (!theirs || theirs === current) return;
        // the index's view of the files as they are (their owner changed after checkout), then the update
        await git(['update-index', '-q', '--refresh']).catch(() => undefined);
        await git(['read-tree', '-m', '-u', current || EMPTY_TREE, theirs]);
        await writeFile(copy.start, theirs);
      };
      const loop = (async () => {
        while (!stopped) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, FOLLOW_EVERY_MS);
          });
          if (!stopped) await round().catch(onError);
        }
      })();
      return {
        stop: async () => {
          stopped = true;
          wake?.();
          await loop;
        },
      };
    },

    /** The task's copy on this host, when it has one. */
    async removeCopy(dir: string, taskId: string): Promise<void> {
      const copy = copyOf(dir, taskId);
      if (!existsSync(copy.home)) return;
      await local.removeSharedWorkspace({ artifactsDir: copy.home });
      await rm(copy.home, { recursive: true, force: true });
    },

    /** The run's shared workspace: the ref, made by the first task that writes to it. */
    async createSharedWorkspace(input: { runId: string }): Promise<{ path: string }> {
      return { path: sharedRef(input.runId) };
    },

    /** Compensation: the ref on the remote. */
    async removeSharedWorkspace(clone: string, runId: string): Promise<void> {
      const ref = sharedRef(runId);
      if ((await inClone(clone).raw(['ls-remote', 'origin', ref])).trim()) {
        await inClone(clone).raw(['push', '--quiet', '--no-verify', 'origin', `:${ref}`]);
      }
    },
  };
}

interface Change {
  mode: string;
  sha: string;
  path: string;
  deleted: boolean;
}

/** `git diff-tree -r -z` output: ":oldmode newmode oldsha newsha status\0path\0" per file. */
function parseDiffTree(out: string): Change[] {
  const parts = out.split('\0');
  const changes: Change[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const [, newMode, , newSha, status] = parts[i].replace(/^\n?:/, '').split(' ');
    if (!status) continue;
    changes.push({ mode: newMode, sha: newSha, path: parts[i + 1], deleted: status === 'D' });
  }
  return changes;
}

/** A line of `update-index -z --index-info`: mode 0 removes the path. */
function indexLine(c: Change): string {
  return c.deleted ? `0 ${'0'.repeat(40)}\t${c.path}\0` : `${c.mode} ${c.sha}\t${c.path}\0`;
}
