// `agentvisor hosts`: the workers polling each queue, read from the server's task queue descriptions
// (a host's worker names itself in its identity), and what each host runs now, read from the
// pending activities of the running runs and tasks. Nothing here is agentvisor's own bookkeeping.
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { parseIdentity, queuesOf, type HostOptions } from '../workers/host';
import { ANY_HOST_QUEUE } from '../contract/queues';
import { TASK_QUEUE } from '../contract/run-types';

export interface QueueWorker {
  identity: string;
  host?: string;
  lastSeen?: string;
}

export interface HostEntry extends HostOptions {
  /** activities its workers run now: "<workflow id>: <activity>" */
  running: string[];
}

export interface HostsReport {
  hosts: HostEntry[];
  queues: { queue: string; workers: QueueWorker[] }[];
  /** activities scheduled and not started by any worker yet: work waiting for its host */
  waiting: string[];
  /** activities running on workers that were not started with --host */
  elsewhere: string[];
}

const { TaskQueueKind, TaskQueueType, PendingActivityState } = temporal.api.enums.v1;

async function pollersOf(client: Client, queue: string, type: temporal.api.enums.v1.TaskQueueType) {
  const response = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: queue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: type,
  });
  return response.pollers ?? [];
}

/** True when some worker started with --host polls the any-host queue (stale ones included). */
export async function anyHostPolls(client: Client): Promise<boolean> {
  return (await pollersOf(client, ANY_HOST_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)).length > 0;
}

function seen(time: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!time?.seconds) return undefined;
  return new Date(Number(time.seconds) * 1000).toISOString();
}

export async function describeHosts(client: Client): Promise<HostsReport> {
  const defaultPollers = [
    ...(await pollersOf(client, TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)),
    ...(await pollersOf(client, TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)),
  ];
  const hosts = new Map<string, HostEntry>();
  for (const p of defaultPollers) {
    const h = parseIdentity(p.identity ?? '');
    if (h && !hosts.has(h.name)) hosts.set(h.name, { name: h.name, labels: h.labels, capacity: h.capacity, running: [] });
  }

  const queueNames = [TASK_QUEUE, ...new Set([...hosts.values()].flatMap((h) => queuesOf(h)))];
  const queues: HostsReport['queues'] = [];
  for (const queue of queueNames) {
    const pollers = await pollersOf(client, queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY);
    const workers = new Map<string, QueueWorker>();
    for (const p of queue === TASK_QUEUE ? defaultPollers : pollers) {
      const identity = p.identity ?? '';
      const last = seen(p.lastAccessTime);
      const known = workers.get(identity);
      if (!known || (last && (!known.lastSeen || last > known.lastSeen)))
        workers.set(identity, { identity, host: parseIdentity(identity)?.name, lastSeen: last });
    }
    queues.push({ queue, workers: [...workers.values()] });
  }

  const waiting: string[] = [];
  const elsewhere: string[] = [];
  const query = `ExecutionStatus = 'Running' AND (WorkflowType = 'runTask' OR WorkflowType = 'runGraph')`;
  for await (const wf of client.workflow.list({ query })) {
    const d = await client.workflow
      .getHandle(wf.workflowId, wf.runId)
      .describe()
      .catch(() => undefined);
    for (const a of d?.raw.pendingActivities ?? []) {
      const what = `${wf.workflowId}: ${a.activityType?.name ?? '?'}`;
      if (a.state === PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED) {
        waiting.push(`${what}${(a.attempt ?? 1) > 1 ? ` (attempt ${a.attempt})` : ''}`);
        continue;
      }
      const host = parseIdentity(a.lastWorkerIdentity ?? '')?.name;
      const entry = host ? hosts.get(host) : undefined;
      if (entry) entry.running.push(what);
      else elsewhere.push(`${what} on ${a.lastWorkerIdentity || 'an unknown worker'}`);
    }
  }
  return { hosts: [...hosts.values()], queues, waiting, elsewhere };
}

export function formatHosts(r: HostsReport): string {
  const lines: string[] = [];
  if (r.hosts.length === 0) lines.push('no worker started with --host polls the default queue');
  for (const h of r.hosts) {
    lines.push(`host ${h.name}  labels: ${h.labels.join(', ') || '-'}  capacity: ${h.capacity}  running: ${h.running.length}`);
    for (const what of h.running) lines.push(`  ${what}`);
  }
  lines.push('', 'queues (workers polling each, by host or identity, and when the server last saw them poll):');
  for (const q of r.queues) {
    const ago = (iso: string) => `${Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))}s ago`;
    const who = q.workers.map((w) => `${w.host ?? w.identity}${w.lastSeen ? ` (${ago(w.lastSeen)})` : ''}`).join(', ');
    lines.push(`  ${q.queue}: ${who || 'nobody'}`);
  }
  if (r.waiting.length) lines.push('', 'waiting for a worker:', ...r.waiting.map((w) => `  ${w}`));
  if (r.elsewhere.length) lines.push('', 'running on workers without --host:', ...r.elsewhere.map((w) => `  ${w}`));
  return lines.join('\n');
}
