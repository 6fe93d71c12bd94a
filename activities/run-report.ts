// The run's report, written into the run's folder when it ends: what `agentvisor status` and resume
// read once the run's Temporal history is gone.
import { mkdir, writeFile } from 'node:fs/promises';
import { reportPath, workspaceBasesDir, worktreesDir } from '../paths/run-folder';
import type { RunReport } from '../contract/run-types';
import { removeUnusedBases } from './workspace';

export function reportActivities() {
  return {
    async writeReport(report: RunReport): Promise<string> {
      const file = reportPath(report.artifactsDir);
      await mkdir(report.artifactsDir, { recursive: true });
      await writeFile(file, JSON.stringify(report, null, 2) + '\n');
      // the run is over: no task needs the checkouts its workspaces were overlays of (workspace-overlay.ts)
      await removeUnusedBases(worktreesDir(report.artifactsDir), workspaceBasesDir(report.artifactsDir));
      return file;
    },
  };
}
