// A host's own clone of a run's git remote, in its data folder. Work on other hosts is exchanged
// through the remote: a host fetches what it starts from, works in worktrees of its clone, and
// pushes what it made. Fetch and push run with the worker's own git credentials (its environment,
// credential helper or SSH key); the clone is never mounted into an agent's container.
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { clonesDir } from '../paths/data-folder';
import { git } from './git';

/** Where this worker keeps its clone of a remote: one bare repository per remote URL. */
export function clonePath(dataDir: string, remote: string): string {
  const slug =
    path
      .basename(remote)
      .replace(/\.git$/, '')
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .slice(0, 40) || 'repo';
  const hash = createHash('sha256').update(remote).digest('hex').slice(0, 10);
  return path.join(clonesDir(dataDir), `${slug}-${hash}.git`);
}

const ready = new Map<string, Promise<string>>();

/**
 * The clone, made or checked once per worker process (also when several activities ask at once).
 * Idempotent: `git init` on a repository re-initialises it, and origin is set to the remote.
 */
export function ensureClone(dataDir: string, remote: string): Promise<string> {
  const dir = clonePath(dataDir, remote);
  let pending = ready.get(dir);
  if (!pending) {
    pending = (async () => {
      await mkdir(dir, { recursive: true });
      await git(dir).raw(['init', '--bare', '--quiet']);
      const remotes = (await git(dir).raw(['remote'])).split('\n');
      if (remotes.includes('origin')) await git(dir).raw(['remote', 'set-url', 'origin', remote]);
      else await git(dir).raw(['remote', 'add', 'origin', remote]);
      return dir;
    })();
    pending.catch(() => ready.delete(dir)); // try again next time
    ready.set(dir, pending);
  }
  return pending;
}

/** The remote-tracking name under which a fetched branch is found in the clone. */
export const tracking = (branch: string) => `refs/remotes/origin/${branch}`;

/** Fetches these branches (all must exist on the remote) into their remote-tracking refs. */
export async function fetchBranches(clone: string, branches: string[]): Promise<void> {
  const unique = [...new Set(branches)];
  if (unique.length === 0) return;
  // no FETCH_HEAD: activities of several runs fetch into one clone at the same time
  await git(clone).raw(['fetch', '--quiet', '--no-write-fetch-head', 'origin', ...unique.map((b) => `+refs/heads/${b}:${tracking(b)}`)]);
}

/** Branch → commit on the remote, for the branches that exist there. */
export async function remoteBranches(clone: string, branches: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (branches.length === 0) return found;
  const out = await git(clone).raw(['ls-remote', 'origin', ...branches.map((b) => `refs/heads/${b}`)]);
  for (const line of out.split('\n').filter(Boolean)) {
    const [commit, ref] = line.split('\t');
    const branch = ref.replace(/^refs\/heads\//, '');
    if (branches.includes(branch)) found.set(branch, commit);
  }
  return found;
}

/** Sets remote branches to commits (force: a task redone after a move replaces its branch). */
export async function pushCommits(clone: string, updates: { commit: string; branch: string }[]): Promise<void> {
  if (updates.length === 0) return;
  await git(clone).raw(['push', '--quiet', '--no-verify', 'origin', ...updates.map((u) => `+${u.commit}:refs/heads/${u.branch}`)]);
  // the clone's view of the remote follows without a fetch
  for (const u of updates) await git(clone).raw(['update-ref', tracking(u.branch), u.commit]);
}

/** Deletes the branches that exist on the remote; returns those it deleted. */
export async function deleteRemoteBranches(clone: string, branches: string[]): Promise<string[]> {
  const present = [...(await remoteBranches(clone, branches)).keys()];
  if (present.length > 0) await git(clone).raw(['push', '--quiet', '--no-verify', 'origin', ...present.map((b) => `:refs/heads/${b}`)]);
  for (const b of branches)
    await git(clone)
      .raw(['update-ref', '-d', tracking(b)])
      .catch(() => undefined);
  return present;
}
