// agentvisor add: grow a running run's graph with more tasks.
import type { Command } from 'commander';
import { addTasks } from '../api';
import { action, ExitCode, withClient } from './shared';

export function registerAddCommand(program: Command): void {
  program
    .command('add')
    .argument('<run>', 'run id')
    .argument('<file>', 'tasks to add: tasks: [...], a list of tasks, or one task, as in a graph file')
    .description('add tasks to a running run; they may depend on its tasks and on each other')
    .action(
      action((runId: string, file: string) =>
        withClient(async (client) => {
          const { added } = await addTasks(client, runId, file);
          console.log(`added ${added.join(', ')} to ${runId}`);
          return ExitCode.success;
        }),
      ),
    );
}
