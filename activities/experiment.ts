// The experiment's steps with side effects: measuring a finished cell run from its files, and
// writing the results (CSV, JSON, the HTML report).
import { existsSync, readFileSync } from 'node:fs';
import type { ExperimentReport, TestCounts } from '../contract/experiment-types';
import type { RunReport } from '../contract/run-types';
import { testsOfEvaluation } from '../experiment/junit';
import { writeExperimentResults } from '../experiment/results';
import { reportPath } from '../paths/run-folder';

export function experimentActivities() {
  return {
    /** A cell run's report (written by the run, failed or not) and its evaluation's tests. */
    async measureRun(input: { artifactsDir: string }): Promise<{ report?: RunReport; tests: TestCounts }> {
      const file = reportPath(input.artifactsDir);
      if (!existsSync(file)) return { tests: testsOfEvaluation(undefined, undefined) };
      const report = JSON.parse(readFileSync(file, 'utf8')) as RunReport;
      const log = report.evaluation && existsSync(report.evaluation.logPath) ? readFileSync(report.evaluation.logPath, 'utf8') : undefined;
      return { report, tests: testsOfEvaluation(log, report.evaluation?.passed) };
    },

    async writeExperimentResults(input: { report: ExperimentReport }): Promise<void> {
      writeExperimentResults(input.report, input.report.resultsDir);
    },
  };
}
