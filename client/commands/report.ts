// agentvisor report: a run as a self-contained HTML page and a markdown summary.
import type { Command } from 'commander';
import { getExperimentReport, getRunReport, isExperiment, writeExperimentResults } from '../api';
import { action, ExitCode, withClient } from './shared';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .argument('<run>', 'run id (or experiment id: its results, as far as they go)')
    .option('--out <dir>', 'folder to write into (default: the run’s artifact folder)')
    .description('write a self-contained HTML report (and a markdown summary) of a run')
    .action(
      action((runId: string, opts: { out?: string }) =>
        withClient(async (client, cfg) => {
          if (await isExperiment(client, runId)) {
            const report = await getExperimentReport(client, runId);
            const files = writeExperimentResults(report, opts.out ?? report.resultsDir);
            console.log(`${files.html}\n${files.csv}\n${files.json}`);
            return ExitCode.success;
          }
          const { writeRunReport } = await import('../report');
          const files = writeRunReport(await getRunReport(client, runId, cfg), undefined, opts.out);
          console.log(`${files.html}\n${files.markdown}`);
          return ExitCode.success;
        }),
      ),
    );
}
