// agentvisor checkout: a run's (or a task's) work as a new branch of the user's repository, checked
// out there or in a new worktree, to look at, test and change like any branch.
import type { Command } from 'commander';
import { checkoutRun, getRunReport } from '../api';
import { action, ExitCode, JSON_FLAG, withRun } from './shared';

export function registerCheckoutCommand(program: Command): void {
  program
    .command('checkout')
    .argument('<run>', 'run id (or a unique prefix; RUN/TASK names a task)')
    .argument('[task]', "a task's work (default: the run's merged work)")
    .option('-b, --branch <name>', 'name of the new branch (default: the run id, or RUN-TASK)')
    .option('--worktree <path>', "check it out in a new worktree there, leaving the repository's checkout as it is")
    .option(...JSON_FLAG)
    .description("make a run's (or a task's) work a new branch of your repository and check it out")
    .action(
      action((ref: string, taskArg: string | undefined, opts: { branch?: string; worktree?: string; json?: boolean }) => {
        const [runRef, taskOfRef] = ref.split('/');
        return withRun(runRef, async (client, cfg, runId) => {
          const report = await getRunReport(client, runId, cfg);
          const done = await checkoutRun(report, { task: taskArg ?? taskOfRef, branch: opts.branch, worktree: opts.worktree });
          if (opts.json) console.log(JSON.stringify({ runId, ...done }, null, 2));
          else console.log(`branch ${done.branch} at ${done.commit.slice(0, 12)}, checked out in ${done.worktree ?? done.repo}`);
          return ExitCode.success;
        });
      }),
    );
}
