// One experiment: every cell (subject × arm × repetition) as ordinary runs, children of this
// workflow, at most `concurrency` cells at once. A cell that fails is a result, not a failure of
// the experiment. At the end the results are written (CSV, JSON, the HTML report).
import {
  CancellationScope,
  ParentClosePolicy,
  condition,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import type { RunActivities } from '../activities';
import { CLEANUP_ACTIVITY, STEP_ACTIVITY } from './activity-options';
import { rootMessage } from './failure';
import { experimentStatusQuery } from './messages';
import { runGraph } from './run-graph';
import { bestOutcome, cellResult, type RunOutcome } from './experiment-metrics';
import { COST, GRAPH, HARNESSES, REPO, STATUS } from '../contract/search-attributes';
import { integrationBranch, taskBranch, type RunInput } from '../contract/run-types';
import type { CellInput, ExperimentInput, ExperimentReport } from '../contract/experiment-types';

const steps = proxyActivities<RunActivities>(STEP_ACTIVITY);
const cleanup = proxyActivities<RunActivities>(CLEANUP_ACTIVITY);

export async function runExperiment(input: ExperimentInput): Promise<ExperimentReport> {
  const report: ExperimentReport = {
    experimentId: input.experimentId,
    name: input.name,
    note: input.note,
    file: input.file,
    status: 'running',
    traffic: input.traffic,
    startedAt: Date.now(),
    cellsTotal: input.cells.length,
    cells: [],
    resultsDir: input.resultsDir,
  };
  setHandler(experimentStatusQuery, () => report);
  publish(report);
  // a resumed experiment takes the earlier result of a cell that completed with the same graph
  const toRun = input.cells.filter((cell) => {
    const reused = input.reused?.find((r) => r.cellId === cell.cellId);
    if (reused) report.cells.push(reused);
    return !reused;
  });
  // at most `concurrency` lanes, each taking the next cell when its own is done
  let next = 0;
  const lane = async () => {
    while (next < toRun.length) {
      const cell = toRun[next++];
      report.cells.push(await runCell(input, cell));
      publish(report);
    }
  };
  // every lane ends before the results are written: on cancel, each cell in flight has rolled back
  const lanes = await Promise.allSettled(Array.from({ length: Math.min(input.concurrency, toRun.length) }, lane));
  const failure = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
  if (failure && !isCancellation(failure.reason)) throw failure.reason;
  report.status = failure ? 'cancelled' : 'completed';
  report.finishedAt = Date.now();
  // the cells in the order of the file, whatever order they finished in
  const order = new Map(input.cells.map((c, i) => [c.cellId, i]));
  report.cells.sort((a, b) => order.get(a.cellId)! - order.get(b.cellId)!);
  await CancellationScope.nonCancellable(() => steps.writeExperimentResults({ report }));
  publish(report);
  return report;
}

async function runCell(input: ExperimentInput, cell: CellInput) {
  const startedAt = Date.now();
  // every candidate settles (on cancel: has rolled back) before the cell ends
  const settled = await Promise.allSettled(cell.runs.map((run) => runOne(input, cell, run)));
  const cancelled = settled.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (cancelled) throw cancelled.reason;
  const outcomes = settled.map((o) => (o as PromiseFulfilledResult<RunOutcome>).value);
  const kept = bestOutcome(outcomes);
  // best-of-n: only the best candidate's work stays in the repository
  if (outcomes.length > 1) {
    await CancellationScope.nonCancellable(async () => {
      for (const o of outcomes) {
        if (o === kept || o.report?.status !== 'completed') continue; // a failed run was rolled back already
        const run = cell.runs.find((r) => r.runId === o.runId)!;
        await cleanup.deleteBranches({
          repo: run.graph.repo,
          branches: [integrationBranch(o.runId), ...run.graph.tasks.map((t) => taskBranch(o.runId, t.id))],
        });
      }
    });
  }
  return cellResult(cell, outcomes, kept, startedAt, Date.now());
}

/** One run of a cell, as a child workflow, cancelled (and so rolled back) past the wall-time budget. */
async function runOne(input: ExperimentInput, cell: CellInput, run: RunInput): Promise<RunOutcome> {
  const scope = new CancellationScope();
  let settled = false;
  let overBudget = false;
  const wallTimeMs = input.wallTimeMs;
  // (not cancellable: when the experiment is cancelled, the run's own cancel settles it)
  const watchdog = wallTimeMs
    ? CancellationScope.nonCancellable(async () => {
        if (!(await condition(() => settled, wallTimeMs))) {
          overBudget = true;
          scope.cancel();
        }
      })
    : undefined;
  let error: string | undefined;
  try {
    await scope.run(async () => {
      const handle = await startChild(runGraph, {
        workflowId: run.runId,
        args: [run],
        // cancelling the experiment cancels its cells, which roll back (never terminated)
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        staticSummary: `${run.graph.name}: cell ${cell.cellId} of experiment ${input.experimentId}`,
        typedSearchAttributes: input.searchAttributes
          ? [
              { key: GRAPH, value: run.graph.name },
              { key: REPO, value: run.graph.repo },
              { key: STATUS, value: 'running' },
              { key: HARNESSES, value: [...new Set(Object.values(run.graph.agents).map((a) => a.harness))] },
              { key: COST, value: 0 },
            ]
          : undefined,
        memo: { graphName: run.graph.name, repo: run.graph.repo, artifactsDir: run.artifactsDir, experiment: input.experimentId },
      });
      await handle.result();
    });
  } catch (err) {
    if (isCancellation(err) && !overBudget) throw err; // the experiment itself was cancelled
    error = overBudget ? `wall-time budget of ${Math.round(input.wallTimeMs! / 1000)}s exceeded` : rootMessage(err);
  } finally {
    settled = true;
  }
  await watchdog;
  const measured = await CancellationScope.nonCancellable(() => steps.measureRun({ artifactsDir: run.artifactsDir }));
  return { runId: run.runId, report: measured.report, tests: measured.tests, error, overBudget };
}

function publish(report: ExperimentReport): void {
  const passed = report.cells.filter((c) => c.evaluationPassed).length;
  setCurrentDetails(
    `experiment **${report.name}**: ${report.cells.length}/${report.cellsTotal} cells done, ${passed} passed (${report.status})`,
  );
}
