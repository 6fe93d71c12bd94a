// agentvisor add: grow a running run's graph with more tasks.
import type { Command } from 'commander';
import { addTasks } from '../api';
import { loadTasksFileOrThrow } from '../../graph/tasks-file';
import { action, ExitCode, JSON_FLAG, withRun } from './shared';

export function registerAddCommand(program: Command): void {
  program
    .command('add')
    .argument('<run>', 'run id (or a unique prefix)')
    .argument('<file>', 'tasks to add: tasks: [...], a list of tasks, or one task, as in a graph file')
    .option(...JSON_FLAG)
    .description('add tasks to a running run; they may depend on its tasks and on each other')
    .action(
      action((ref: string, file: string, opts: { json?: boolean }) => {
        // the file's own problems first, before any run is asked
        loadTasksFileOrThrow(file);
        return withRun(ref, async (client, _cfg, runId) => {
          const { added } = await addTasks(client, runId, file);
          if (opts.json) console.log(JSON.stringify({ runId, added }));
          else console.log(`added ${added.join(', ')} to ${runId}`);
          return ExitCode.success;
        });
      }),
    );
}
