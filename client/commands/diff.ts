// agentvisor diff: what a run changed (its integration commit against its base commit), or one
// task (its commit against the commit it started from), as git shows it.
import type { Command } from 'commander';
import { getRunReport, runDiff } from '../api';
import { useColor } from '../colors';
import { action, ExitCode, JSON_FLAG, printStderr, withRun } from './shared';

export function registerDiffCommand(program: Command): void {
  program
    .command('diff')
    .argument('<run>', 'run id (or a unique prefix; RUN/TASK names a task)')
    .argument('[task]', "a task: its work against the commit it started from (default: the run's merged work against its base)")
    .option('--stat', 'only the files changed and their line counts')
    .option(...JSON_FLAG)
    .description("show a run's (or a task's) changes as a git diff")
    .action(
      action((ref: string, taskArg: string | undefined, opts: { stat?: boolean; json?: boolean }) => {
        const [runRef, taskOfRef] = ref.split('/');
        return withRun(runRef, async (client, cfg, runId) => {
          const report = await getRunReport(client, runId, cfg);
          const task = taskArg ?? taskOfRef;
          const diff = await runDiff(report, { task, stat: opts.stat, color: !opts.json && useColor(process.stdout) });
          if (diff.note) printStderr(`note: ${diff.note}`);
          if (opts.json)
            console.log(JSON.stringify({ runId, task, repo: diff.repo, from: diff.from, to: diff.to, diff: diff.text }, null, 2));
          else process.stdout.write(diff.text);
          return ExitCode.success;
        });
      }),
    );
}
