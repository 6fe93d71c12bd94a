// agentvisor experiment: run every cell of an experiment file (subjects × arms × repetitions) as
// ordinary runs of one experiment workflow, and write its results; or, with --print-graphs, show
// the graph each cell will run.
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import {
  BadInputError,
  getExperimentReport,
  loadConfig,
  newExperimentId,
  startExperiment,
  validateExperimentFile,
  waitForExperiment,
} from '../api';
import { experimentFiles } from '../../paths/experiment-folder';
import type { CellResult, ExperimentReport } from '../../contract/experiment-types';
import { terminalText as tty } from '../../contract/text-safety';
import { action, ExitCode, printStderr } from './shared';

interface ExperimentFlags {
  printGraphs?: boolean;
  json?: boolean;
  detach?: boolean;
  id?: string;
  resume?: string;
  record?: string;
  replay?: string;
}

export function registerExperimentCommand(program: Command): void {
  program
    .command('experiment')
    .argument('<file>', 'experiment file (YAML)')
    .option('--print-graphs', "print each cell's graph and start nothing")
    .option('--json', 'print the result as one JSON object')
    .option('--detach', 'start the experiment and return')
    .option('--id <id>', 'experiment id (default: its name and a random suffix)')
    .option('--record <dir>', "keep every cell run's model traffic in DIR (a cassette folder per run)")
    .option('--replay <dir>', 'run the experiment again offline from the traffic --record kept in DIR')
    .option('--resume <experiment>', "take that experiment's completed cells as they are and run the others")
    .description('compare arms (single, serial, parallel, best-of-n, graph files) over subjects, each cell an ordinary run')
    .action(
      action((file: string, opts: ExperimentFlags) => (opts.printGraphs ? printGraphs(file, opts) : runExperimentCommand(file, opts))),
    );
}

function trafficFlag(opts: ExperimentFlags) {
  if (opts.record !== undefined && opts.replay !== undefined)
    throw new BadInputError([{ message: '--record and --replay exclude each other' }]);
  if (opts.record !== undefined) return { mode: 'record' as const, dir: opts.record };
  if (opts.replay !== undefined) return { mode: 'replay' as const, dir: opts.replay };
  return undefined;
}

async function printGraphs(file: string, opts: ExperimentFlags): Promise<number> {
  const { experiment, problems } = await validateExperimentFile(file, {
    experimentId: opts.id ?? newExperimentId('exp'),
    traffic: trafficFlag(opts),
  });
  if (!experiment) throw new BadInputError(problems, file);
  if (opts.json) {
    console.log(
      JSON.stringify(
        experiment.cells.map((c) => ({ cellId: c.cellId, runs: c.runs.map((r) => ({ runId: r.runId, graph: r.graph })) })),
        null,
        2,
      ),
    );
    return ExitCode.success;
  }
  for (const cell of experiment.cells) {
    const runs = cell.runs.map((r) => r.runId).join(', ');
    const times = cell.runs.length > 1 ? ` (${cell.runs.length} runs of this graph; the best is kept)` : '';
    console.log(`# cell ${cell.cellId}: run ${runs}${times}`);
    console.log(cell.runs[0].yaml.trimEnd());
    console.log('---');
  }
  return ExitCode.success;
}

const cellLine = (c: CellResult) =>
  `cell ${c.cellId}: ${c.reusedFrom ? `reused from ${c.reusedFrom}, ` : ''}${c.evaluationPassed ? 'passed' : 'failed'}, tests ${c.testsPassed}/${c.testsTotal}, ${(c.wallMs / 1000).toFixed(1)} s, $${c.costUsd.toFixed(4)}` +
  `${c.mergeConflicts ? `, ${c.mergeConflicts} merge conflict(s)` : ''}${c.failureReason ? ` (${tty(c.failureReason)})` : ''}`;

/** `agentvisor status EXPERIMENT`: its cells so far, and per arm how many passed. */
export async function showExperiment(client: Client, experimentId: string, opts: { json?: boolean }): Promise<number> {
  const report = await getExperimentReport(client, experimentId);
  if (opts.json) {
    console.log(JSON.stringify(report, null, 2));
    return ExitCode.success;
  }
  console.log(
    `experiment ${experimentId} (${report.name}): ${report.status}, ${report.cells.length}/${report.cellsTotal} cells measured, traffic ${report.traffic}`,
  );
  for (const c of report.cells) console.log(cellLine(c));
  const arms = [...new Set(report.cells.map((c) => c.arm))];
  for (const arm of arms) {
    const of = report.cells.filter((c) => c.arm === arm);
    console.log(`arm ${arm}: ${of.filter((c) => c.evaluationPassed).length}/${of.length} passed`);
  }
  return ExitCode.success;
}

async function runExperimentCommand(file: string, opts: ExperimentFlags): Promise<number> {
  const cfg = loadConfig();
  const started = await startExperiment(file, {
    experimentId: opts.id,
    resumeFrom: opts.resume,
    traffic: trafficFlag(opts),
    config: cfg,
    log: printStderr,
    worker: opts.detach ? 'background' : 'in-process',
  });
  const { client, experimentId } = started;
  try {
    if (opts.detach) {
      if (opts.json) console.log(JSON.stringify({ experimentId, status: 'running', cells: started.cells, resultsDir: started.resultsDir }));
      else console.log(`experiment ${experimentId} started: ${started.cells} cells; results in ${started.resultsDir}`);
      return ExitCode.success;
    }
    if (!opts.json)
      console.log(`experiment ${experimentId}: ${started.cells} cells${started.uiLink ? `   Temporal UI: ${started.uiLink}` : ''}`);
    // one line per cell as it finishes (not with --json)
    const shown = new Set<string>();
    let done = false;
    const poll = (async () => {
      while (!done && !opts.json) {
        try {
          for (const c of (await getExperimentReport(client, experimentId)).cells) {
            if (!shown.has(c.cellId)) console.log(cellLine(c));
            shown.add(c.cellId);
          }
        } catch {
          // between states; try again
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    let report: ExperimentReport;
    try {
      report = await waitForExperiment(client, experimentId);
    } finally {
      done = true;
      await poll;
    }
    if (opts.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      for (const c of report.cells) if (!shown.has(c.cellId)) console.log(cellLine(c));
      const files = experimentFiles(report.resultsDir);
      const passed = report.cells.filter((c) => c.evaluationPassed).length;
      console.log(`experiment ${experimentId}: ${report.status}, ${report.cells.length}/${report.cellsTotal} cells, ${passed} passed`);
      console.log(`results: ${files.csv}\n         ${files.json}\nreport:  ${files.html}`);
    }
    return report.status === 'completed' ? ExitCode.success : ExitCode.failed;
  } finally {
    await started.stopWorker?.();
    await client.connection.close();
  }
}
