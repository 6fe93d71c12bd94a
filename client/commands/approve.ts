// agentvisor approve: let a run waiting at a gate go on.
import type { Command } from 'commander';
import { approveGate } from '../api';
import { action, ExitCode, JSON_FLAG, withRun } from './shared';

export function registerApproveCommand(program: Command): void {
  program
    .command('approve')
    .argument('<run>', 'run id (or a unique prefix)')
    .argument('[gate]', 'the task id, or merge (default: the one gate that is waiting)')
    .option(...JSON_FLAG)
    .description('let a run waiting for approval go on')
    .action(
      action((ref: string, gate: string | undefined, opts: { json?: boolean }) =>
        withRun(ref, async (client, _cfg, runId) => {
          const a = await approveGate(client, runId, gate);
          if (opts.json) console.log(JSON.stringify({ runId, ...a }));
          else console.log(`approved ${a.gate} of ${runId}`);
          return ExitCode.success;
        }),
      ),
    );
}
