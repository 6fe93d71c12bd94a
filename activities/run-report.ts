// The run's report, written into the run's folder when it ends: what `agentvisor status` and resume
// read once the run's Temporal history is gone.
import { mkdir, writeFile } from 'node:fs/promises';
import { reportPath } from '../paths/run-folder';
import type { RunReport } from '../contract/run-types';

export function reportActivities() {
  return {
    async writeReport(report: RunReport): Promise<string> {
      const file = reportPath(report.artifactsDir);
      await mkdir(report.artifactsDir, { recursive: true });
      await writeFile(file, JSON.stringify(report, null, 2) + '\n');
      return file;
    },
  };
}
