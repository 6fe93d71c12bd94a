// agentvisor run: start a task graph and, unless detached, follow it to its end.
import type { Command } from 'commander';
import { startRun } from '../api';
import { followRun, type RunFlags } from './follow-run';
import { action, JSON_FLAG } from './shared';

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .argument('<file>', 'task graph (YAML)')
    .option('--detach', 'start the run and return')
    .option(...JSON_FLAG)
    .option('--id <id>', 'run id (default: graph name, time and a random suffix)')
    .option('--keep-on-failure', 'leave branches, worktrees and containers of a failed run for debugging')
    .description('run a task graph')
    .action(action((file: string, opts: RunFlags) => followRun(opts, (o) => startRun(file, o))));
}
