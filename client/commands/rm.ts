// agentvisor rm: remove finished runs for good: their branches, their folders and their histories.
import type { Command } from 'commander';
import { removeRun, resolveRunId, type RemovedRun } from '../api';
import { action, ExitCode, JSON_FLAG, withClient } from './shared';

export function registerRmCommand(program: Command): void {
  program
    .command('rm')
    .argument('<runs...>', 'run ids (or unique prefixes) of finished runs')
    .option('--dry-run', 'list what would be removed, removing nothing')
    .option(...JSON_FLAG)
    .description('remove finished runs: their branches in your repository, their folders (logs, report) and their Temporal histories')
    .action(
      action((refs: string[], opts: { dryRun?: boolean; json?: boolean }) =>
        withClient(async (client, cfg) => {
          const runIds: string[] = [];
          for (const ref of refs) runIds.push(await resolveRunId(ref, { dataDir: cfg.dataDir, client }));
          // every run is checked (running, a branch checked out) before any is removed
          const plans: RemovedRun[] = [];
          for (const runId of new Set(runIds)) plans.push(await removeRun(client, cfg, runId, { dryRun: true }));
          const removed = opts.dryRun ? plans : [];
          if (!opts.dryRun) for (const plan of plans) removed.push(await removeRun(client, cfg, plan.runId));
          if (opts.json) {
            console.log(JSON.stringify(removed, null, 2));
            return ExitCode.success;
          }
          const verb = opts.dryRun ? 'would remove' : 'removed';
          for (const r of removed) {
            for (const b of r.branches) console.log(`${verb} branch ${b} (${r.repo})`);
            if (r.folder) console.log(`${verb} folder ${r.folder}`);
            for (const id of r.history) console.log(`${verb} history ${id}`);
            for (const note of r.notes) console.log(`note: run ${r.runId}: ${note}`);
          }
          return ExitCode.success;
        }),
      ),
    );
}
