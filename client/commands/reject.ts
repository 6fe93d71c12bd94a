// agentvisor reject: refuse a gate; the run fails with the reason and is rolled back.
import type { Command } from 'commander';
import { rejectGate } from '../api';
import { action, ExitCode, JSON_FLAG, withRun } from './shared';

export function registerRejectCommand(program: Command): void {
  program
    .command('reject')
    .argument('<run>', 'run id (or a unique prefix)')
    .argument('[gate]', 'the task id, or merge (default: the one gate that is waiting)')
    .requiredOption('--reason <text>', 'why (shown in the run’s error and report)')
    .option(...JSON_FLAG)
    .description('reject a gate: the run fails with the reason and is rolled back')
    .action(
      action((ref: string, gate: string | undefined, opts: { reason: string; json?: boolean }) =>
        withRun(ref, async (client, _cfg, runId) => {
          const a = await rejectGate(client, runId, opts.reason, gate);
          if (opts.json) console.log(JSON.stringify({ runId, ...a }));
          else console.log(`rejected ${a.gate} of ${runId}: ${a.reason}`);
          return ExitCode.success;
        }),
      ),
    );
}
