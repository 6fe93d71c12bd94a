// agentvisor gc: remove what crashed runs left behind, never what running runs use.
import type { Command } from 'commander';
import { runtimeFromFlags, type RuntimeFlags } from '../../runtimes/select';
import { action, ExitCode, JSON_FLAG, withClient } from './shared';

type GcFlags = { dryRun?: boolean; branches?: boolean; json?: boolean } & RuntimeFlags;

export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .option('--dry-run', 'list what would be removed')
    .option('--branches', 'also delete the branches of runs that did not complete')
    .option(...JSON_FLAG)
    .option('--runtime <runtime>', 'the runtime to sweep: docker (default) or kubernetes')
    .option('--namespace <name>', 'with --runtime kubernetes: the namespace to sweep')
    .option('--kubeconfig <file>', 'with --runtime kubernetes: the kubeconfig (default KUBECONFIG, ~/.kube/config, or in-cluster)')
    .description('remove containers and worktrees that crashed runs left behind (never those of running runs)')
    .action(action(removeLeftovers));
}

async function removeLeftovers(opts: GcFlags) {
  const runtime = await runtimeFromFlags(opts);
  return withClient(async (client, cfg) => {
    const { collectGarbage } = await import('../gc');
    const { scopeOf } = await import('../../runtimes/runtime');
    const report = await collectGarbage({
      client,
      runtime,
      dataDir: cfg.dataDir,
      scope: scopeOf(cfg.namespace, cfg.address),
      dryRun: opts.dryRun,
      branches: opts.branches,
    });
    if (opts.json) console.log(JSON.stringify(report, null, 2));
    else {
      const verb = opts.dryRun ? 'would remove' : 'removed';
      for (const c of report.containers) console.log(`${verb} container ${c}`);
      for (const n of report.networks) console.log(`${verb} network ${n}`);
      for (const w of report.worktrees) console.log(`${verb} worktree ${w}`);
      for (const b of report.branches) console.log(`${verb} branch ${b}`);
      for (const s of report.settled) console.log(`unmounted shared workspace ${s} (its files kept)`);
      if (report.skippedRunning.length) console.log(`left alone (running): ${report.skippedRunning.join(', ')}`);
      if (!report.containers.length && !report.networks.length && !report.worktrees.length && !report.branches.length)
        console.log('nothing to remove');
    }
    return ExitCode.success;
  });
}
