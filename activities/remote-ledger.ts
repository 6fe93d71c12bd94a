// The ledger of finished work of a run with a remote (activities/ledger.ts keeps it in a file on one
// machine). Each task's entry is a commit on the remote, at ledgerRef(run, task): its parent is the
// task's work, its message the entry as JSON. So a resume on any host finds the entry and the work it
// names in the remote, even after a rollback deleted the task's branch (the ref keeps it reachable)
// and without the hosts that did the work.
import { ledgerRef } from '../contract/run-types';
import { git } from './git';
import type { LedgerEntry } from './ledger';

/** Writes the entry on the remote (a retry writes the same entry again: the ref is replaced). */
export async function pushLedgerEntry(clone: string, entry: LedgerEntry): Promise<void> {
  const g = git(clone);
  const record = (
    await g.raw([
      '-c',
      'user.name=agentvisor',
      '-c',
      'user.email=agentvisor@localhost',
      'commit-tree',
      `${entry.commit}^{tree}`,
      '-p',
      entry.commit,
      '-m',
      JSON.stringify(entry),
    ])
  ).trim();
  const ref = ledgerRef(entry.runId, entry.taskId);
  await g.raw(['push', '--quiet', '--no-verify', 'origin', `+${record}:${ref}`]);
}

/** The earlier run's entry for a task, fetched from the remote with the work it names; undefined when it has none. */
export async function fetchLedgerEntry(clone: string, runId: string, taskId: string): Promise<LedgerEntry | undefined> {
  const ref = ledgerRef(runId, taskId);
  const g = git(clone);
  if (!(await g.raw(['ls-remote', 'origin', ref])).trim()) return undefined;
  await g.raw(['fetch', '--quiet', '--no-write-fetch-head', 'origin', `+${ref}:${ref}`]);
  try {
    const entry = JSON.parse(await g.raw(['show', '--no-patch', '--format=%B', ref])) as LedgerEntry;
    return entry.taskId === taskId ? entry : undefined;
  } catch {
    return undefined; // not an entry agentvisor wrote
  }
}
