// agentvisor status: the state of a run, once or (--watch) until it ends.
import { publicReport } from '../report';
import type { Command } from 'commander';
import { getRunReport, isExperiment } from '../api';
import { showExperiment } from './experiment';
import { ProgressView, renderTable } from '../progress';
import { isLive } from '../../contract/run-types';
import { action, ExitCode, printSummary, withClient } from './shared';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .argument('<run>', 'run id (or experiment id)')
    .option('--json', 'print one JSON object')
    .option('-w, --watch', 'keep showing progress until the run ends')
    .description('show the state of a run')
    .action(
      action((runId: string, opts: { json?: boolean; watch?: boolean }) =>
        withClient(async (client, cfg) => {
          if (await isExperiment(client, runId)) return showExperiment(client, runId, opts);
          let report = await getRunReport(client, runId, cfg);
          if (opts.watch && !opts.json) {
            const view = new ProgressView(process.stdout, client);
            while (isLive(report.status)) {
              view.update(report);
              await new Promise((r) => setTimeout(r, 1000));
              report = await getRunReport(client, runId, cfg);
            }
            view.update(report);
            printSummary(report, cfg);
            return report.status === 'completed' ? ExitCode.success : ExitCode.failed;
          }
          if (opts.json) console.log(JSON.stringify(publicReport(report), null, 2));
          else {
            console.log(renderTable(report, !!process.stdout.isTTY));
            printSummary(report, cfg);
          }
          return ExitCode.success;
        }),
      ),
    );
}
