// agentvisor report: a run as a self-contained HTML page and a markdown summary (an experiment: its results).
import type { Command } from 'commander';
import { getExperimentReport, getRunReport, isExperiment, writeExperimentResults } from '../api';
import { resolveRunId } from '../run-ids';
import { action, ExitCode, JSON_FLAG, withClient } from './shared';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .argument('<run>', 'run id (or a unique prefix), or experiment id: its results, as far as they go')
    .option('--out <dir>', 'folder to write into (default: the run’s artifact folder)')
    .option(...JSON_FLAG)
    .description('write a self-contained HTML report (and a markdown summary) of a run')
    .action(
      action((ref: string, opts: { out?: string; json?: boolean }) =>
        withClient(async (client, cfg) => {
          if (await isExperiment(client, ref)) {
            const report = await getExperimentReport(client, ref);
            const files = writeExperimentResults(report, opts.out ?? report.resultsDir);
            if (opts.json) console.log(JSON.stringify({ experimentId: ref, ...files }));
            else console.log(`${files.html}\n${files.csv}\n${files.json}`);
            return ExitCode.success;
          }
          const runId = await resolveRunId(ref, { dataDir: cfg.dataDir, client });
          const { writeRunReport } = await import('../report');
          const files = writeRunReport(await getRunReport(client, runId, cfg), undefined, opts.out);
          if (opts.json) console.log(JSON.stringify({ runId, ...files }));
          else console.log(`${files.html}\n${files.markdown}`);
          return ExitCode.success;
        }),
      ),
    );
}
