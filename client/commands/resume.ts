// agentvisor resume: run a graph again, reusing what an earlier run finished.
import type { Command } from 'commander';
import { loadConfig, resolveRunId, resumeRun } from '../api';
import { followRun, type RunFlags } from './follow-run';
import { action, JSON_FLAG } from './shared';

export function registerResumeCommand(program: Command): void {
  program
    .command('resume')
    .argument('<run>', 'id (or a unique prefix) of a failed or cancelled run')
    .option('--file <file>', 'graph file to use (default: the one the run was started from)')
    .option('--detach', 'start the run and return')
    .option(...JSON_FLAG)
    .option('--id <id>', 'id of the new run')
    .option('--keep-on-failure', 'leave branches, worktrees and containers of a failed run for debugging')
    .description('run a graph again, reusing the work an earlier run finished and redoing the rest')
    .action(
      action(async (ref: string, opts: RunFlags) => {
        // resume needs the run's folder on this machine: the folders are where its id is looked up
        const runId = await resolveRunId(ref, { dataDir: loadConfig().dataDir });
        return followRun(opts, (o) => resumeRun(runId, { ...o, file: opts.file }));
      }),
    );
}
