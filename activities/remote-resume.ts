// Resume for a run with a remote: the earlier run's finished work is found in the remote's ledger
// (activities/remote-ledger.ts), not in a folder of the machine that did it, and the reused work
// becomes the new run's task branch on the remote.
import type { TaskInput } from '../contract/run-types';
import { withHeartbeat } from './heartbeat';
import { decideReuseOf, type LedgerEntry, type ReuseDecision } from './ledger';
import { fetchLedgerEntry, pushLedgerEntry } from './remote-ledger';
import { ensureClone, pushCommits } from './remote-git';

export function remoteResumeActivities(deps: { dataDir: string }) {
  return {
    async findReusableWork(input: TaskInput & { remote: string; fromRunId: string }): Promise<ReuseDecision> {
      const clone = await ensureClone(deps.dataDir, input.remote);
      const entry = await withHeartbeat('fetch the ledger', () => fetchLedgerEntry(clone, input.fromRunId, input.taskId));
      return decideReuseOf(entry, { ...input, repo: clone });
    },

    /** The task's branch of this run on the remote points at the recorded commit, recorded in this run's ledger; no agent runs. */
    async adoptRecordedWork(input: { remote: string; runId: string; branch: string; entry: LedgerEntry }): Promise<void> {
      const clone = await ensureClone(deps.dataDir, input.remote);
      await withHeartbeat('push the reused work', async () => {
        // this worker's clone may not have the work yet (another one decided to reuse it)
        await fetchLedgerEntry(clone, input.entry.runId, input.entry.taskId);
        await pushCommits(clone, [{ commit: input.entry.commit, branch: input.branch }]);
        await pushLedgerEntry(clone, { ...input.entry, runId: input.runId });
      });
    },
  };
}
