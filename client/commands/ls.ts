// agentvisor ls: the runs (or experiments), newest first, as an aligned table (or --json).
import Table from 'cli-table3';
import { Option, type Command } from 'commander';
// subpaths: the package's index loads every function (tens of ms of start-up for each command)
import { formatDistanceStrict } from 'date-fns/formatDistanceStrict';
import { formatDistanceToNowStrict } from 'date-fns/formatDistanceToNowStrict';
import { LIST_STATUSES, listExperiments, listRuns, type RunSummary } from '../api';
import { statusColor } from '../colors';
import { formatUsd } from '../progress';
import { action, ExitCode, JSON_FLAG, positiveInteger, withClient } from './shared';

export function registerLsCommand(program: Command): void {
  program
    .command('ls')
    .option(...JSON_FLAG)
    .addOption(new Option('--status <status>', 'only runs in this state, as status shows it').choices(Object.keys(LIST_STATUSES)))
    .option('--graph <name>', 'only runs of this graph')
    .option('--limit <n>', 'at most this many', positiveInteger, 50)
    .option('--experiments', 'list experiments instead of runs')
    .description('list runs (or experiments), newest first')
    .action(
      action((opts: { json?: boolean; status?: string; graph?: string; limit: number; experiments?: boolean }) =>
        withClient(async (client) => {
          if (opts.experiments) {
            const found = await listExperiments(client, opts.limit);
            if (opts.json) console.log(JSON.stringify(found, null, 2));
            else if (found.length === 0) console.log('no experiments');
            else
              console.log(
                alignedTable(
                  ['EXPERIMENT', 'STATUS', 'NAME', 'STARTED', 'DURATION'],
                  found.map((e) => [e.experimentId, statusColor(e.status), e.name ?? '', ...times(e.startTime, e.closeTime, new Date())]),
                ),
              );
            return ExitCode.success;
          }
          const runs = await listRuns(client, { status: opts.status, graph: opts.graph, limit: opts.limit });
          if (opts.json) console.log(JSON.stringify(runs, null, 2));
          else if (runs.length === 0) console.log('no runs');
          else console.log(runsTable(runs));
          return ExitCode.success;
        }),
      ),
    );
}

/** Columns aligned by spaces, no borders (as `docker ps` and `gh run list`); times relative to now. */
export function runsTable(runs: RunSummary[], now = new Date()): string {
  return alignedTable(
    ['RUN', 'STATUS', 'GRAPH', 'STARTED', 'DURATION', 'COST'],
    runs.map((r) => [
      r.runId,
      statusColor(r.status),
      r.graphName ?? '',
      ...times(r.startTime, r.closeTime, now),
      r.costUsd !== undefined ? formatUsd(r.costUsd) : '',
    ]),
  );
}

/** When it started (relative to now) and how long it took (or has taken). */
function times(start: Date | undefined, close: Date | undefined, now: Date): [string, string] {
  if (!start) return ['', ''];
  return [formatDistanceToNowStrict(start, { addSuffix: true }), formatDistanceStrict(start, close ?? now)];
}

function alignedTable(head: string[], rows: string[][]): string {
  const blank = { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '' };
  const table = new Table({
    head,
    chars: { ...blank, 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  table.push(...rows);
  return table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
}
