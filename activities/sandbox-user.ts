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
