// Task queues are how work reaches a host: Temporal does the scheduling, agentvisor only names the
// queues. Every worker serves the default queue (the runs' workflows and their run-wide steps); a
// worker started with --host NAME also serves its host's queue, the any-host queue (work of a run
// with a remote that names no host) and one queue per combination of its labels.
// Pure functions: workflows and workers both use them.
import type { Placement } from '../graph/placement';
import { TASK_QUEUE } from './run-types';

export const hostQueue = (host: string) => `${TASK_QUEUE}-host-${host}`;
/** Unplaced work of runs with a remote: only host workers serve it, so its steps can follow it to one host. */
export const ANY_HOST_QUEUE = `${TASK_QUEUE}-any-host`;
export const labelsQueue = (labels: string[]) => `${TASK_QUEUE}-labels-${[...new Set(labels)].sort().join('+')}`;

/** The queues a placement tries, in order: where it waits first, then where `otherwise: move` sends it. */
export function placementQueues(p: Placement | undefined): string[] {
  if (!p || (!p.host && !p.labels)) return [ANY_HOST_QUEUE];
  if (!p.host) return [labelsQueue(p.labels!)];
  const first = hostQueue(p.host);
  if (p.otherwise !== 'move') return [first];
  // another host that fits: one with the labels asked for, or else any host
  return [first, p.labels ? labelsQueue(p.labels) : ANY_HOST_QUEUE];
}

/** Every non-empty combination of a worker's labels: a task asking for any of them fits this host. */
export function labelQueuesOf(labels: string[]): string[] {
  const sorted = [...new Set(labels)].sort();
  const queues: string[] = [];
  for (let mask = 1; mask < 1 << sorted.length; mask++) {
    queues.push(labelsQueue(sorted.filter((_, i) => mask & (1 << i))));
  }
  return queues;
}

/** What a placement asks for, in words, for messages. */
export function describePlacement(p: Placement | undefined, queue: string): string {
  if (queue === ANY_HOST_QUEUE) return 'any host';
  if (p?.host && queue === hostQueue(p.host)) return `host "${p.host}"`;
  return `a host with labels ${(p?.labels ?? []).join(', ')}`;
}
