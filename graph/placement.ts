// Where work runs when a run spans several hosts: the `remote` the repository is exchanged through,
// and `runsOn` placements (a host by name, or hosts by label) with how long to wait for them.
// The schema parts are used by schema.ts; the checks and resolution by graph-checks.ts and load.ts.
import * as path from 'node:path';
import { z } from 'zod';
import type { Problem } from './problems';
import { parseDuration } from './units';

/** Host names and labels become task queue names: a small safe alphabet. */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
/** A worker serves a queue per non-empty subset of its labels, so it may carry only a few. */
export const MAX_WORKER_LABELS = 4;

const hostName = z.string().regex(HOST_NAME, { message: 'expected a host name: letters, digits, ., - and _ (at most 63)' });

const placementObject = z
  .object({
    host: hostName.optional().describe('The host (a worker started with --host NAME) the work runs on'),
    labels: z
      .array(z.string().regex(HOST_NAME, { message: 'expected a label: letters, digits, ., - and _ (at most 63)' }))
      .min(1, { message: 'labels: give at least one label, or leave labels out' })
      .optional()
      .describe('Labels the host must carry (worker --labels); any host with all of them will do'),
    wait: z
      .union([z.string(), z.number()])
      .refine((v) => parseDuration(v) !== undefined, { message: 'expected a duration such as 90s, 10m or 1h' })
      .optional()
      .describe('How long the work may wait for a worker of this placement to start it; default: as long as it takes'),
    otherwise: z
      .enum(['fail', 'move'])
      .optional()
      .describe('When the wait runs out: fail, or move to another host that fits (needs wait; default fail)'),
  })
  .strict();

export const placementSchema = z
  .union([hostName, placementObject], { error: 'expected a host name, or { host, labels, wait, otherwise }' })
  .describe('Where it runs: a host name, or { host, labels, wait, otherwise }; needs remote');

export type PlacementFile = z.infer<typeof placementSchema>;

export const remoteSchema = z
  .string()
  .min(1)
  .describe(
    'Git remote the run exchanges the repository through, for runs whose work runs on other hosts: a URL, or a path relative to this file (e.g. a bare repository on a shared disk). Replaces repo.',
  );

/** A placement as the workflows get it. */
export interface Placement {
  host?: string;
  /** sorted */
  labels?: string[];
  waitMs?: number;
  otherwise: 'fail' | 'move';
}

export function resolvePlacement(p: PlacementFile | undefined): Placement | undefined {
  if (p === undefined) return undefined;
  if (typeof p === 'string') return { host: p, otherwise: 'fail' };
  return {
    host: p.host,
    labels: p.labels && [...new Set(p.labels)].sort(),
    waitMs: p.wait === undefined ? undefined : parseDuration(p.wait),
    otherwise: p.otherwise ?? 'fail',
  };
}

/** A URL (scheme://… or scp-like host:path) stays as written; anything else is a path from the graph file. */
export function resolveRemote(remote: string, baseDir: string): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(remote) || /^[^/]*:/.test(remote)) return remote;
  return path.resolve(baseDir, remote.replace(/^~(?=\/|$)/, process.env.HOME ?? '~'));
}

/** repo or remote: checked with the schema's other problems (both missing is a missing key). */
export function requireRepoOrRemote(graph: unknown, ctx: z.RefinementCtx): void {
  if (graph && typeof graph === 'object' && !Array.isArray(graph) && !('repo' in graph) && !('remote' in graph)) {
    ctx.addIssue({
      code: 'custom',
      path: ['repo'],
      message: 'a graph needs repo (a local repository) or remote (a git remote shared by several hosts)',
    });
  }
}

/** The structural rules of placements and remotes, found without touching anything. */
export function checkPlacements(graph: {
  repo?: string;
  remote?: string;
  proposals?: unknown;
  agents: Record<string, { shared?: string }>;
  tasks: { runsOn?: PlacementFile }[];
  merge?: { runsOn?: PlacementFile };
  evaluate?: { runsOn?: PlacementFile };
}): Problem[] {
  const problems: Problem[] = [];
  if (graph.repo !== undefined && graph.remote !== undefined) {
    problems.push({
      path: 'remote',
      message:
        'give repo or remote, not both: with remote, every host works in its own clone of it and the run never touches a local repository',
    });
  }
  if (graph.remote !== undefined && /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/.test(graph.remote)) {
    problems.push({
      path: 'remote',
      message:
        'the remote URL holds a password or token; leave it out and give the workers git credentials of their own (a credential helper or an SSH key)',
    });
  }
  if (graph.remote !== undefined && graph.proposals !== undefined) {
    problems.push({
      path: 'proposals',
      message:
        "a run with remote cannot take proposals yet: an agent's drop folder is on its host, and the run reads it where the workflow's steps run; leave proposals out, or use repo",
    });
  }
  const places: [string, PlacementFile | undefined][] = [
    ...graph.tasks.map((t, i) => [`tasks.${i}.runsOn`, t.runsOn] as [string, PlacementFile | undefined]),
    ['merge.runsOn', graph.merge?.runsOn],
    ['evaluate.runsOn', graph.evaluate?.runsOn],
  ];
  for (const [where, p] of places) {
    if (p === undefined) continue;
    if (graph.remote === undefined) {
      problems.push({
        path: where,
        message: 'runsOn needs remote: work on other hosts reaches the repository through a git remote the graph names',
      });
    }
    if (typeof p === 'string') continue;
    if (p.host === undefined && p.labels === undefined) problems.push({ path: where, message: 'runsOn needs a host or labels' });
    if (p.otherwise !== undefined && p.wait === undefined) {
      problems.push({ path: `${where}.otherwise`, message: 'otherwise needs wait: it says what happens when the wait runs out' });
    }
    if (p.otherwise === 'move' && p.host === undefined) {
      problems.push({
        path: `${where}.otherwise`,
        message: 'otherwise: move needs a host to move away from; a labels placement already waits for every host that has the labels',
      });
    }
  }
  return problems;
}
