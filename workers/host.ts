// A host's worker (`agentvisor worker --host NAME --labels a,b --capacity N`): besides the default
// queue, it serves its host's own queue, the any-host queue and a queue per combination of its labels. One SDK Worker
// per queue, on one connection, all with the same activities. Its identity, which the server lists
// among each queue's pollers, says which host it is, so `agentvisor hosts` can read it back.
import { NativeConnection, Worker } from '@temporalio/worker';
import * as os from 'node:os';
import { BadInputError, type Problem } from '../graph/problems';
import { HOST_NAME, MAX_WORKER_LABELS } from '../graph/placement';
import { ANY_HOST_QUEUE, hostQueue, labelQueuesOf } from '../contract/queues';
import { deploymentOptions } from './version';

export interface HostOptions {
  name: string;
  labels: string[];
  /** agents at once: the activity slots of the host's own queue, where its agents run */
  capacity: number;
}

export function identityOf(host: HostOptions): string {
  return `agentvisor host=${host.name} labels=${host.labels.join(',')} capacity=${host.capacity} ${process.pid}@${os.hostname()}`;
}

export function parseIdentity(identity: string): (HostOptions & { process: string }) | undefined {
  const m = /^agentvisor host=(\S+) labels=(\S*) capacity=(\d+) (\S+)$/.exec(identity);
  if (!m) return undefined;
  return { name: m[1], labels: m[2] ? m[2].split(',') : [], capacity: Number(m[3]), process: m[4] };
}

/** The queues a host's worker serves besides the default one: its own first, then any host's and its labels'. */
export const queuesOf = (host: HostOptions) => [hostQueue(host.name), ANY_HOST_QUEUE, ...labelQueuesOf(host.labels)];

/** The worker command's --host, --labels and --capacity, checked (bad ones: exit 2). */
export function hostOptions(
  flags: { host?: string; labels?: string; capacity?: string },
  defaultCapacity: number,
): HostOptions | undefined {
  const problems: Problem[] = [];
  const labels = flags.labels
    ? [
        ...new Set(
          flags.labels
            .split(',')
            .map((l) => l.trim())
            .filter(Boolean),
        ),
      ].sort()
    : [];
  const capacity = flags.capacity === undefined ? defaultCapacity : Number(flags.capacity);
  if (!flags.host) {
    if (flags.labels || flags.capacity) problems.push({ message: '--labels and --capacity describe a host: give --host NAME too' });
  } else if (!HOST_NAME.test(flags.host)) {
    problems.push({ message: `--host "${flags.host}" is not a valid host name (letters, digits, ., - and _; at most 63)` });
  }
  for (const label of labels.filter((l) => !HOST_NAME.test(l)))
    problems.push({ message: `--labels: "${label}" is not a valid label (letters, digits, ., - and _)` });
  if (labels.length > MAX_WORKER_LABELS)
    problems.push({ message: `--labels: at most ${MAX_WORKER_LABELS} labels (a queue is served per combination of them)` });
  if (!Number.isInteger(capacity) || capacity < 1)
    problems.push({ message: `--capacity "${flags.capacity}" is not a positive whole number` });
  if (problems.length) throw new BadInputError(problems);
  return flags.host ? { name: flags.host, labels, capacity } : undefined;
}

/** Activity-only workers for the host's and its labels' queues. */
export async function createHostWorkers(opts: {
  connection: NativeConnection;
  namespace: string;
  host: HostOptions;
  activities: object;
}): Promise<Worker[]> {
  const identity = identityOf(opts.host);
  return Promise.all(
    queuesOf(opts.host).map((taskQueue, i) =>
      Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue,
        activities: opts.activities,
        identity,
        workerDeploymentOptions: deploymentOptions(),
        // the host's queue runs its tasks' agents (and their git steps): the capacity is its slots.
        // The any-host and label queues carry only claims, which hand the work on to the host's queue.
        maxConcurrentActivityTaskExecutions: i === 0 ? opts.host.capacity : Math.min(opts.host.capacity, 4),
        maxConcurrentActivityTaskPolls: i === 0 ? undefined : 1,
        maxHeartbeatThrottleInterval: '2 seconds',
        shutdownGraceTime: '10 seconds',
      }),
    ),
  );
}
