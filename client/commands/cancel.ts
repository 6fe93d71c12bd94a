// agentvisor cancel: stop a run (or an experiment); its work is rolled back unless it keeps it on failure.
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { cancelRun, isExperiment } from '../api';
import { action, ExitCode, JSON_FLAG, withClient, withRun } from './shared';

export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .argument('<run>', 'run id (or a unique prefix), or experiment id (its cells in flight are cancelled too)')
    .option(...JSON_FLAG)
    .description('cancel a run; its work is rolled back unless it was started with --keep-on-failure')
    .action(
      action(async (ref: string, opts: { json?: boolean }) => {
        const cancel = async (client: Client, id: string) => {
          await cancelRun(client, id);
          if (opts.json) console.log(JSON.stringify({ runId: id, cancelRequested: true }));
          else console.log(`cancel requested for ${id}`);
          return ExitCode.success;
        };
        if (await withClient((client) => isExperiment(client, ref))) return withClient((client) => cancel(client, ref));
        return withRun(ref, (client, _cfg, runId) => cancel(client, runId));
      }),
    );
}
