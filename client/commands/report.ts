// agentvisor report: a run as a self-contained HTML page and a markdown summary.
import type { Command } from 'commander';
import { getRunReport } from '../api';
import { action, ExitCode, JSON_FLAG, withRun } from './shared';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .argument('<run>', 'run id (or a unique prefix)')
    .option('--out <dir>', 'folder to write into (default: the run’s artifact folder)')
    .option(...JSON_FLAG)
    .description('write a self-contained HTML report (and a markdown summary) of a run')
    .action(
      action((ref: string, opts: { out?: string; json?: boolean }) =>
        withRun(ref, async (client, cfg, runId) => {
          const { writeRunReport } = await import('../report');
          const files = writeRunReport(await getRunReport(client, runId, cfg), undefined, opts.out);
          if (opts.json) console.log(JSON.stringify({ runId, ...files }));
          else console.log(`${files.html}\n${files.markdown}`);
          return ExitCode.success;
        }),
      ),
    );
}
