// What the tests check of a run's end: one that should have completed despite what was done to it,
// and one that its budget stopped.
import { expect } from '@jest/globals';
import type { RunReport } from '../../contract/run-types';
import { sh } from './repo';

/** Completed, its evaluation passed, and the integration branch's tree is exactly `files`. */
export function expectCompletedWithTree(repo: string, report: RunReport, files: string[]): void {
  expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
  expect(report.evaluation).toMatchObject({ passed: true });
  expect(sh(repo, 'ls-tree', '-r', '--name-only', report.integrationBranch).trim().split('\n')).toEqual(files);
}

/** Nothing made twice: one commit by each of these agents, one merge of each of these tasks. */
export function expectEachMadeOnce(repo: string, report: RunReport, made: { agents: string[]; merges?: string[] }): void {
  const authors = sh(repo, 'log', '--format=%an', report.integrationBranch).split('\n');
  expect(authors.filter((a) => made.agents.includes(a)).sort()).toEqual([...made.agents].sort());
  if (made.merges) {
    expect(sh(repo, 'log', '--merges', '--format=%s', report.integrationBranch).trim().split('\n').sort()).toEqual(
      made.merges.map((t) => `agentvisor: merge ${t}`).sort(),
    );
  }
}

/**
 * The run's budget stopped it: the `claude` task's first call (replayed from claude.yaml, $0.007275)
 * crossed it, and the `waiting` task on `host`, whose own gateway metered nothing, was stopped for
 * the run's budget (or, had it not started yet, never started).
 */
export function expectStoppedByRunBudget(report: RunReport, host: string): void {
  expect(report.status).toBe('failed');
  const [claude, waiting] = report.tasks;
  expect([claude.status, claude.error]).toEqual(['budget_exceeded', "the run's budget is spent"]);
  // the first call only: it was in flight when the total was reached; the second was refused
  expect(claude.usage!.costUsd).toBeCloseTo(0.007275, 9);
  if (waiting.status === 'skipped') expect(waiting.error).toBe("not started: the run's budget is spent");
  else
    expect([waiting.status, waiting.error, waiting.host, waiting.usage?.costUsd ?? 0]).toEqual([
      'budget_exceeded',
      "the run's budget is spent",
      host,
      0,
    ]);
}
