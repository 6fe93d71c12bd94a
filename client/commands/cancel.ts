// agentvisor cancel: stop a run; its work is rolled back unless it keeps it on failure.
import type { Command } from 'commander';
import { cancelRun } from '../api';
import { action, ExitCode, withClient } from './shared';

export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .argument('<run>', 'run id')
    .description('cancel a run; its work is rolled back unless it was started with --keep-on-failure')
    .action(
      action((runId: string) =>
        withClient(async (client) => {
          await cancelRun(client, runId);
          console.log(`cancel requested for ${runId}`);
          return ExitCode.success;
        }),
      ),
    );
}
