// agentvisor cancel: stop a run; its work is rolled back unless it keeps it on failure.
import type { Command } from 'commander';
import { cancelRun } from '../api';
import { action, ExitCode, JSON_FLAG, withRun } from './shared';

export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .argument('<run>', 'run id (or a unique prefix)')
    .option(...JSON_FLAG)
    .description('cancel a run; its work is rolled back unless it was started with --keep-on-failure')
    .action(
      action((ref: string, opts: { json?: boolean }) =>
        withRun(ref, async (client, _cfg, runId) => {
          await cancelRun(client, runId);
          if (opts.json) console.log(JSON.stringify({ runId, cancelRequested: true }));
          else console.log(`cancel requested for ${runId}`);
          return ExitCode.success;
        }),
      ),
    );
}
