// Resume: a task's work taken from the earlier run's ledger (activities/ledger.ts) instead of
// running its agent again, when nothing it depends on changed.
import { mkdir } from 'node:fs/promises';
import { ledgerPath } from '../paths/run-folder';
import type { TaskInput } from '../contract/run-types';
import { git } from './git';
import { appendLedger, decideReuse, type LedgerEntry, type ReuseDecision } from './ledger';

export function resumeActivities() {
  return {
    /** May this task's work be taken from the earlier run's ledger? */
    async findReusableWork(input: TaskInput & { fromRunId: string; fromArtifactsDir: string }): Promise<ReuseDecision> {
      return decideReuse({
        repo: input.repo,
        ledgerFile: ledgerPath(input.fromArtifactsDir),
        fromRunId: input.fromRunId,
        agent: input.agent,
        task: input.task,
        baseCommit: input.baseCommit,
        dependencyCommits: input.dependencyCommits,
      });
    },

    /** The task's branch of this run points at the recorded commit; no agent runs. */
    async adoptRecordedWork(input: {
      repo: string;
      runId: string;
      artifactsDir: string;
      branch: string;
      entry: LedgerEntry;
    }): Promise<void> {
      await git(input.repo).raw(['branch', '--force', input.branch, input.entry.commit]);
      await mkdir(input.artifactsDir, { recursive: true });
      await appendLedger(ledgerPath(input.artifactsDir), { ...input.entry, runId: input.runId });
    },
  };
}
