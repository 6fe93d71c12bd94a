// Who agents run as, and handing them the folders they work in.
import { lchown, readdir } from 'node:fs/promises';
import * as path from 'node:path';

/**
 * The uid:gid agent containers run as. Never root: when the worker runs as root the agent is uid
 * 1000 and its worktree is handed to that uid; otherwise the agent runs as the worker's own user,
 * which already owns the worktree.
 */
export function sandboxUser(): { uid: number; gid: number; chownWorktrees: boolean } {
  const uid = process.getuid?.() ?? 1000;
  if (uid === 0) return { uid: 1000, gid: 1000, chownWorktrees: true };
  return { uid, gid: process.getgid?.() ?? uid, chownWorktrees: false };
}

/**
 * lchown, never chown: a symlink in the repository must not hand its target to the agent. A
 * folder's entries are changed all at once (libuv's thread pool), not one awaited call after the
 * other: on a repository of tens of thousands of files that was most of a workspace's set-up.
 */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await lchown(dir, uid, gid);
  let folders = [dir];
  while (folders.length) {
    const next: string[] = [];
    await Promise.all(
      folders.map(async (folder) => {
        const entries = await readdir(folder, { withFileTypes: true });
        await Promise.all(
          entries.map((entry) => {
            const p = path.join(folder, entry.name);
            if (entry.isDirectory()) next.push(p);
            return lchown(p, uid, gid);
          }),
        );
      }),
    );
    folders = next;
  }
}
