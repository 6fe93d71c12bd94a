// The CLI's commands for a running run's coordination: approve, reject (and add).
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { ClientConfig } from './config';
import { addTasks, approveGate, rejectGate } from './coordination';

type Action = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;
type WithClient = <T>(fn: (client: Client, cfg: ClientConfig) => Promise<T>) => Promise<T>;

export function addCoordinationCommands(program: Command, action: Action, withClient: WithClient): void {
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
          return 0;
        }),
      ),
    );

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
          return 0;
        }),
      ),
    );

  program
    .command('add')
    .argument('<run>', 'run id')
    .argument('<file>', 'tasks to add: tasks: [...], a list of tasks, or one task, as in a graph file')
    .description("add tasks to a running run; they may depend on its tasks and on each other")
    .action(
      action((runId: string, file: string) =>
        withClient(async (client) => {
          const { added } = await addTasks(client, runId, file);
          console.log(`added ${added.join(', ')} to ${runId}`);
          return 0;
        }),
      ),
    );
}
