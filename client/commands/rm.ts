// agentvisor rm: remove a finished run for good: its branches, its folder and its history.
import type { Command } from 'commander';
import { removeRun } from '../api';
import { action, ExitCode, JSON_FLAG, withRun } from './shared';

export function registerRmCommand(program: Command): void {
  program
    .command('rm')
    .argument('<run>', 'run id (or a unique prefix) of a finished run')
    .option('--dry-run', 'list what would be removed, removing nothing')
    .option(...JSON_FLAG)
    .description('remove a finished run: its branches in your repository, its folder (logs, report) and its Temporal history')
    .action(
      action((ref: string, opts: { dryRun?: boolean; json?: boolean }) =>
        withRun(ref, async (client, cfg, runId) => {
          const removed = await removeRun(client, cfg, runId, { dryRun: opts.dryRun });
          if (opts.json) {
            console.log(JSON.stringify(removed, null, 2));
            return ExitCode.success;
          }
          const verb = opts.dryRun ? 'would remove' : 'removed';
          for (const b of removed.branches) console.log(`${verb} branch ${b} (${removed.repo})`);
          if (removed.folder) console.log(`${verb} folder ${removed.folder}`);
          for (const id of removed.history) console.log(`${verb} history ${id}`);
          for (const note of removed.notes) console.log(`note: ${note}`);
          return ExitCode.success;
        }),
      ),
    );
}
