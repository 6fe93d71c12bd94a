// What the recovery tests check of a run that should have completed despite what was done to it.
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
