// agentvisor ls: the runs, newest first.
import type { Command } from 'commander';
import { listExperiments, listRuns } from '../api';
import { formatUsd } from '../progress';
import { action, ExitCode, withClient } from './shared';

export function registerLsCommand(program: Command): void {
  program
    .command('ls')
    .option('--json', 'print JSON')
    .option('--status <status>', 'running, completed, failed, cancelled, terminated')
    .option('--graph <name>', 'only runs of this graph')
    .option('--limit <n>', 'at most this many', '50')
    .option('--experiments', 'list experiments instead of runs')
    .description('list runs (or experiments), newest first')
    .action(
      action((opts: { json?: boolean; status?: string; graph?: string; limit: string; experiments?: boolean }) =>
        withClient(async (client) => {
          if (opts.experiments) {
            const found = await listExperiments(client, Number(opts.limit));
            if (opts.json) console.log(JSON.stringify(found, null, 2));
            else for (const e of found) console.log(`${e.experimentId}\t${e.status}\t${e.name ?? ''}\t${e.startTime?.toISOString() ?? ''}`);
            return ExitCode.success;
          }
          const runs = await listRuns(client, { status: opts.status, graph: opts.graph, limit: Number(opts.limit) });
          if (opts.json) console.log(JSON.stringify(runs, null, 2));
          else
            for (const r of runs)
              console.log(
                `${r.runId}\t${r.status}\t${r.graphName ?? ''}\t${r.startTime?.toISOString() ?? ''}\t${r.costUsd !== undefined ? formatUsd(r.costUsd) : ''}`,
              );
          return ExitCode.success;
        }),
      ),
    );
}
