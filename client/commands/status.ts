// agentvisor status: the state of a run (or of one task, RUN/TASK), once or (--watch) until it ends.
import { publicReport } from '../report';
import type { Command } from 'commander';
import { getRunReport, isExperiment, splitRunRef } from '../api';
import { useColor } from '../colors';
import { showExperiment } from './experiment';
import { ProgressView, renderTable } from '../progress';
import { taskOf } from '../run-results';
import { isLive, type RunReport } from '../../contract/run-types';
import { action, ExitCode, JSON_FLAG, printSummary, withClient, withRun } from './shared';

type StatusFlags = { json?: boolean; watch?: boolean; exitStatus?: boolean };

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .argument('<run>', 'run id, a unique prefix of one, RUN/TASK (the id the Temporal UI shows for a task), or an experiment id')
    .option(...JSON_FLAG)
    .option('-w, --watch', 'keep showing progress until the run ends')
    .option('--exit-status', 'exit with the outcome: 0 completed (succeeded), 1 failed or cancelled, 3 not over yet')
    .description('show the state of a run, or of one of its tasks')
    .action(
      action(async (ref: string, opts: StatusFlags) => {
        if (await withClient((client) => isExperiment(client, ref))) return withClient((client) => showExperiment(client, ref, opts));
        const { run, task } = splitRunRef(ref);
        return withRun(run, async (client, cfg, runId) => {
          let report = await getRunReport(client, runId, cfg);
          if (task) taskOf(report, task); // an unknown task is bad input, before anything is shown
          const shown = (r: RunReport) => (task ? { ...r, tasks: [taskOf(r, task)] } : r);
          if (opts.watch && !opts.json) {
            const view = new ProgressView(process.stdout, client);
            while (isLive(report.status) && !(task && isOver(taskOf(report, task).status))) {
              view.update(shown(report));
              await new Promise((r) => setTimeout(r, 1000));
              report = await getRunReport(client, runId, cfg);
            }
            view.update(shown(report));
          } else if (opts.json) {
            const pub = publicReport(report);
            console.log(JSON.stringify(task ? pub.tasks.find((t) => t.id === task) : pub, null, 2));
          } else console.log(renderTable(shown(report), useColor(process.stdout)));
          if (!opts.json) printSummary(report, cfg);
          if (opts.exitStatus || opts.watch) return outcomeCode(task ? taskOf(report, task).status : report.status);
          return ExitCode.success;
        });
      }),
    );
}

const isOver = (status: string) => !['pending', 'running', 'awaiting_approval'].includes(status);

/** A run's or task's status as an exit code: done well 0, not well 1, not over yet 3. */
function outcomeCode(status: string): number {
  if (status === 'completed' || status === 'succeeded') return ExitCode.success;
  if (!isOver(status)) return ExitCode.notOver;
  return ExitCode.failed;
}
