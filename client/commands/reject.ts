// agentvisor reject: refuse a gate; the run fails with the reason and is rolled back.
import type { Command } from 'commander';
import { rejectGate } from '../api';
import { action, ExitCode, withClient } from './shared';

export function registerRejectCommand(program: Command): void {
  program
    .command('reject')
    .argument('<run>', 'run id')
    .argument('[gate]', 'the task id, or merge (default: the one gate that is waiting)')
    .requiredOption('--reason <text>', 'why (shown in the run’s error and report)')
    .description('reject a gate: the run fails with the reason and is rolled back')
    .action(
      action((runId: string, gate: string | undefined, opts: { reason: string }) =>
        withClient(async (client) => {
          const a = await rejectGate(client, runId, opts.reason, gate);
          console.log(`rejected ${a.gate} of ${runId}: ${a.reason}`);
          return ExitCode.success;
        }),
      ),
    );
}
