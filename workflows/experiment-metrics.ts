// A cell's measurements from its runs' reports: plain arithmetic, shared by every arm.
import type { CellInput, CellResult, TestCounts } from '../contract/experiment-types';
import type { RunReport } from '../contract/run-types';

export interface RunOutcome {
  runId: string;
  report?: RunReport;
  tests: TestCounts;
  /** why the run did not complete, as the experiment saw it (a wall-time budget, a failure) */
  error?: string;
  /** the run was stopped at the cell's wall-time budget */
  overBudget?: boolean;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function usageOf(r?: RunReport) {
  const tasks = r?.tasks ?? [];
  return {
    inputTokens: sum(tasks.map((t) => t.usage?.inputTokens ?? 0)),
    outputTokens: sum(tasks.map((t) => t.usage?.outputTokens ?? 0)),
    cachedTokens: sum(tasks.map((t) => t.usage?.cachedTokens ?? 0)),
    costUsd: sum(tasks.map((t) => t.usage?.costUsd ?? 0)),
    agentMs: sum(tasks.map((t) => (t.startedAt && t.finishedAt ? t.finishedAt - t.startedAt : 0))),
  };
}

const passed = (o: RunOutcome) => o.report?.status === 'completed' && !!o.report.evaluation?.passed;

/**
 * best-of-n keeps the candidate that scores best: evaluation passed, then most tests passed, then
 * least cost, then the first. Any other arm has one run.
 */
export function bestOutcome(outcomes: RunOutcome[]): RunOutcome {
  let best = outcomes[0];
  for (const o of outcomes.slice(1)) {
    const a = [passed(o) ? 1 : 0, o.tests.passed, -usageOf(o.report).costUsd];
    const b = [passed(best) ? 1 : 0, best.tests.passed, -usageOf(best.report).costUsd];
    const i = a.findIndex((x, k) => x !== b[k]);
    if (i >= 0 && a[i] > b[i]) best = o;
  }
  return best;
}

export function cellResult(cell: CellInput, outcomes: RunOutcome[], kept: RunOutcome, startedAt: number, finishedAt: number): CellResult {
  const usages = outcomes.map((o) => usageOf(o.report));
  const r = kept.report;
  const tasks = r?.tasks ?? [];
  const conflicts = r?.merge.conflicts ?? [];
  const status = kept.overBudget ? 'failed' : r?.status === 'completed' ? 'completed' : r?.status === 'cancelled' ? 'cancelled' : 'failed';
  return {
    cellId: cell.cellId,
    subject: cell.subject,
    arm: cell.arm,
    armKind: cell.armKind,
    repetition: cell.repetition,
    graphDigest: cell.graphDigest,
    runIds: outcomes.map((o) => o.runId),
    keptRunId: kept.runId,
    status,
    evaluationPassed: passed(kept),
    testsPassed: kept.tests.passed,
    testsFailed: kept.tests.failed,
    testsTotal: kept.tests.total,
    testsSource: kept.tests.source,
    wallMs: finishedAt - startedAt,
    agentMs: sum(usages.map((u) => u.agentMs)),
    inputTokens: sum(usages.map((u) => u.inputTokens)),
    outputTokens: sum(usages.map((u) => u.outputTokens)),
    cachedTokens: sum(usages.map((u) => u.cachedTokens)),
    costUsd: sum(usages.map((u) => u.costUsd)),
    mergeConflicts: conflicts.length,
    conflictFiles: [...new Set(conflicts.flatMap((c) => c.files))],
    filesChanged: sum(tasks.map((t) => t.filesChanged)),
    linesAdded: sum(tasks.map((t) => t.insertions)),
    linesDeleted: sum(tasks.map((t) => t.deletions)),
    retries: conflicts.filter((c) => c.resolution?.strategy === 'retry').length,
    failureReason: status === 'completed' ? undefined : (kept.error ?? r?.error ?? 'the run did not complete'),
  };
}
