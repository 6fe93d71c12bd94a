// agentvisor resume: run a graph again, reusing what an earlier run finished.
import type { Command } from 'commander';
import { resumeRun } from '../api';
import { followRun, type RunFlags } from './follow-run';
import { action } from './shared';

export function registerResumeCommand(program: Command): void {
  program
    .command('resume')
    .argument('<run>', 'id of a failed or cancelled run')
    .option('--file <file>', 'graph file to use (default: the one the run was started from)')
    .option('--detach', 'start the run and return')
    .option('--json', 'print the result as one JSON object')
    .option('--id <id>', 'id of the new run')
    .option('--keep-on-failure', 'leave branches, worktrees and containers of a failed run for debugging')
    .description('run a graph again, reusing the work an earlier run finished and redoing the rest')
    .action(action((runId: string, opts: RunFlags) => followRun(opts, (o) => resumeRun(runId, { ...o, file: opts.file }))));
}
