// agentvisor merge: a completed run's integration branch merged into a branch of the user's, as
// `git merge` would (fast-forward when it can); on a conflict nothing changes.
import type { Command } from 'commander';
import { getRunReport, mergeRun } from '../api';
import { action, ExitCode, JSON_FLAG, withRun } from './shared';

export function registerMergeCommand(program: Command): void {
  program
    .command('merge')
    .argument('<run>', 'run id (or a unique prefix) of a completed run')
    .requiredOption('--into <branch>', 'the branch of your repository to merge the run into')
    .option(...JSON_FLAG)
    .description("merge a completed run's work into a branch of yours; on a conflict nothing is changed")
    .action(
      action((ref: string, opts: { into: string; json?: boolean }) =>
        withRun(ref, async (client, cfg, runId) => {
          const report = await getRunReport(client, runId, cfg);
          const done = await mergeRun(report, opts.into, cfg.dataDir);
          if (opts.json) console.log(JSON.stringify({ runId, ...done }, null, 2));
          else if (done.how === 'up-to-date') console.log(`${done.branch} already has the work of run ${runId}`);
          else
            console.log(
              `${done.branch}: ${done.before.slice(0, 12)} → ${done.after.slice(0, 12)} (${done.how === 'merge' ? 'merge commit' : 'fast-forward'})` +
                (done.worktree ? `, checkout in ${done.worktree} updated` : ''),
            );
          return ExitCode.success;
        }),
      ),
    );
}
