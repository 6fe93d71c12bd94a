// agentvisor approve: let a run waiting at a gate go on.
import type { Command } from 'commander';
import { approveGate } from '../api';
import { action, ExitCode, withClient } from './shared';

export function registerApproveCommand(program: Command): void {
  program
    .command('approve')
    .argument('<run>', 'run id')
    .argument('[gate]', 'the task id, or merge (default: the one gate that is waiting)')
    .description('let a run waiting for approval go on')
    .action(
      action((runId: string, gate: string | undefined) =>
        withClient(async (client) => {
          const a = await approveGate(client, runId, gate);
          console.log(`approved ${a.gate} of ${runId}`);
          return ExitCode.success;
        }),
      ),
    );
}
