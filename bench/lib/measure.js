// One measured run: agentvisor through its CLI (`run FILE --json`, with a warm server and worker), or
// the floor through baseline.sh. Container lifecycles come from one Docker event stream; the
// workflow timeline from the Temporal history.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { app, ROOT, sampleProcess } = require('./env');

const Docker = require(path.join(ROOT, 'node_modules', 'dockerode'));
const { temporal } = require(path.join(ROOT, 'node_modules', '@temporalio', 'proto'));

const LABEL_RUN = 'org.agentvisor.run';
const LABEL_TASK = 'org.agentvisor.task';
const LABEL_BENCH = 'org.agentvisor.bench';
const LABEL_BENCH_TASK = 'org.agentvisor.bench.task';

/** Every container create/start/die/destroy on the engine, with its labels, from now on. */
class DockerWatch {
  constructor() {
    this.docker = new Docker();
    this.events = [];
  }

  async start() {
    this.stream = await this.docker.getEvents({ filters: { type: ['container'], event: ['create', 'start', 'die', 'destroy'] } });
    let buf = '';
    this.stream.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        try {
          const e = JSON.parse(line);
          const attrs = (e.Actor && e.Actor.Attributes) || {};
          this.events.push({ action: e.Action || e.status, t: Number(BigInt(e.timeNano) / 1000n) / 1000, attrs });
        } catch {
          // not an event
        }
      }
    });
  }

  /** Events of one agentvisor run (label org.agentvisor.run) or one baseline run (org.agentvisor.bench). */
  of(kind, runId) {
    const label = kind === 'baseline' ? LABEL_BENCH : LABEL_RUN;
    const taskLabel = kind === 'baseline' ? LABEL_BENCH_TASK : LABEL_TASK;
    return this.events.filter((e) => e.attrs[label] === runId).map((e) => ({ ...e, task: e.attrs[taskLabel] }));
  }

  /** Waits until the engine has reported what happened up to now (events trail by a few ms). */
  async settle(ms = 300) {
    await new Promise((r) => setTimeout(r, ms));
  }

  /** Removes containers left by one run (there should be none). */
  async cleanup(kind, runId) {
    const label = kind === 'baseline' ? LABEL_BENCH : LABEL_RUN;
    const found = await this.docker.listContainers({ all: true, filters: { label: [`${label}=${runId}`] } });
    await Promise.all(
      found.map((c) =>
        this.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
    return found.length;
  }

  stop() {
    this.stream?.destroy?.();
  }
}

/** Container facts of a run: first start, how many ran at once, per-container create→start→die→destroy. */
function containerStats(events) {
  const starts = events.filter((e) => e.action === 'start').map((e) => e.t);
  const timeline = events
    .filter((e) => e.action === 'start' || e.action === 'die')
    .map((e) => [e.t, e.action === 'start' ? 1 : -1])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let maxConcurrent = 0;
  for (const [, d] of timeline) maxConcurrent = Math.max(maxConcurrent, (now += d));
  const byTask = new Map();
  for (const e of events) {
    const k = e.task ?? e.attrs.name;
    if (!byTask.has(k)) byTask.set(k, {});
    const rec = byTask.get(k);
    if (rec[e.action] === undefined) rec[e.action] = e.t;
  }
  return { firstStart: starts.length ? Math.min(...starts) : undefined, maxConcurrent, count: starts.length, byTask };
}

/** `agentvisor run FILE --json --id ID`; wall time from spawn to exit, peak RSS of the CLI process. */
function runAgentvisor({ graphFile, runId, env, timeoutMs = 30 * 60_000, nodeArgs = [] }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const h0 = process.hrtime.bigint();
    const proc = spawn(process.execPath, [...nodeArgs, app.cli, 'run', graphFile, '--json', '--id', runId], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const sampler = sampleProcess(proc.pid);
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    const killer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    let wallMs;
    let rss;
    proc.on('exit', () => {
      wallMs = Number(process.hrtime.bigint() - h0) / 1e6;
      rss = sampler.stop();
    });
    proc.on('close', (code) => {
      clearTimeout(killer);
      let report;
      try {
        report = JSON.parse(out);
      } catch {
        report = undefined;
      }
      resolve({ kind: 'agentvisor', runId, t0, tEnd: t0 + wallMs, wallMs, exitCode: code, report, stderr: err, peakRssKb: rss.hwmKb });
    });
  });
}

/** bench/baseline.sh on a fresh repository; wall time from spawn to exit, its step trace. */
function runBaseline({ repo, runId, shape, n, workDir, maxParallel = 0, env = process.env, timeoutMs = 30 * 60_000 }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const h0 = process.hrtime.bigint();
    const proc = spawn('bash', [path.join(__dirname, '..', 'baseline.sh'), repo, runId, shape, String(n), workDir, String(maxParallel)], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const sampler = sampleProcess(proc.pid, 50);
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const killer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    let wallMs;
    let rss;
    proc.on('exit', () => {
      wallMs = Number(process.hrtime.bigint() - h0) / 1e6;
      rss = sampler.stop();
    });
    proc.on('close', (code) => {
      clearTimeout(killer);
      let trace = [];
      try {
        trace = fs
          .readFileSync(path.join(workDir, 'trace.tsv'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => {
            const [task, step, a, b] = l.split('\t');
            return { task, step, start: Number(BigInt(a) / 1000n) / 1000, end: Number(BigInt(b) / 1000n) / 1000 };
          });
      } catch {
        // no trace
      }
      resolve({
        kind: 'baseline',
        runId,
        t0,
        tEnd: t0 + wallMs,
        wallMs,
        exitCode: code,
        stderr: err,
        trace,
        treePeakRssKb: rss.treePeakKb,
      });
    });
  });
}

const EventType = temporal.api.enums.v1.EventType;
const tsMs = (ts) => Number(ts.seconds.toString()) * 1000 + (ts.nanos || 0) / 1e6;

/** A workflow's history: events with names and times, their count and encoded size. */
async function history(client, workflowId) {
  const h = await client.workflow.getHandle(workflowId).fetchHistory();
  const bytes = temporal.api.history.v1.History.encode(h).finish().length;
  const events = h.events.map((e) => ({
    type: EventType[e.eventType].replace(/^EVENT_TYPE_/, ''),
    t: tsMs(e.eventTime),
    id: Number(e.eventId.toString()),
    e,
  }));
  return { workflowId, events, count: events.length, bytes, jsonBytes: Buffer.byteLength(JSON.stringify(h)) };
}

/** Sum of activity attempts beyond the first, over a history: retries that hid a failure. */
function retries(h) {
  return h.events
    .filter((x) => x.type === 'ACTIVITY_TASK_STARTED')
    .reduce((n, x) => n + Math.max(0, (x.e.activityTaskStartedEventAttributes.attempt || 1) - 1), 0);
}

/**
 * Splits a one-task run, end to end, into consecutive segments: the CLI before the workflow starts,
 * each workflow task, each wait in a task queue, each activity (runAgent split by container events),
 * the child workflow start and completion hand-offs, and the CLI after the workflow ends. Only valid
 * for runs where nothing overlaps (one task).
 */
function oneTaskSegments(run, parent, child, containers) {
  const marks = [];
  const add = (t, label, src) => marks.push({ t, label, src });
  const activityName = new Map();
  for (const h of [parent, child]) {
    const who = h === parent ? 'parent' : 'child';
    for (const ev of h.events) {
      if (ev.type === 'ACTIVITY_TASK_SCHEDULED')
        activityName.set(`${who}:${ev.id}`, ev.e.activityTaskScheduledEventAttributes.activityType.name);
      let name = ev.type;
      if (ev.type === 'ACTIVITY_TASK_STARTED')
        name += `:${activityName.get(`${who}:${Number(ev.e.activityTaskStartedEventAttributes.scheduledEventId.toString())}`)}`;
      if (ev.type === 'ACTIVITY_TASK_COMPLETED')
        name += `:${activityName.get(`${who}:${Number(ev.e.activityTaskCompletedEventAttributes.scheduledEventId.toString())}`)}`;
      add(ev.t, name, who);
    }
  }
  const c = [...containers.byTask.values()][0] || {};
  for (const k of ['create', 'start', 'die', 'destroy']) if (c[k] !== undefined) add(c[k], `CONTAINER_${k.toUpperCase()}`, 'docker');
  marks.sort((a, b) => a.t - b.t);

  // What the interval that ends at a mark was spent on.
  const label = (prev, m) => {
    const [type, act] = m.label.split(':');
    switch (type) {
      case 'WORKFLOW_TASK_STARTED':
        return 'Temporal: workflow task queue wait';
      case 'WORKFLOW_TASK_COMPLETED':
        return 'Temporal: workflow task on the worker';
      case 'ACTIVITY_TASK_STARTED':
        return 'Temporal: activity queue wait';
      case 'ACTIVITY_TASK_SCHEDULED':
      case 'WORKFLOW_TASK_SCHEDULED':
      case 'START_CHILD_WORKFLOW_EXECUTION_INITIATED':
      case 'WORKFLOW_EXECUTION_COMPLETED':
        return 'Temporal: server bookkeeping';
      case 'WORKFLOW_EXECUTION_STARTED':
      case 'CHILD_WORKFLOW_EXECUTION_STARTED':
        return 'Temporal: child workflow start';
      case 'CHILD_WORKFLOW_EXECUTION_COMPLETED':
        return 'Temporal: child workflow completion to parent';
      case 'CONTAINER_CREATE':
        return 'runAgent: before container create (inspect, git reset/clean)';
      case 'CONTAINER_START':
        return 'container: create → start';
      case 'CONTAINER_DIE':
        return 'container: agent command runs (start → exit)';
      case 'CONTAINER_DESTROY':
        return prev.label.startsWith('CONTAINER_DIE')
          ? 'container: exit → removed'
          : `activity: ${prev.label.split(':')[1] || 'removeContainers'}`;
      case 'ACTIVITY_TASK_COMPLETED':
        if (act === 'runAgent' && prev.label === 'CONTAINER_DIE') return 'runAgent: after container exit (wait, inspect, logs)';
        return `activity: ${act}`;
      default:
        return `other (${type})`;
    }
  };
  const segments = new Map();
  const put = (k, ms) => segments.set(k, (segments.get(k) || 0) + ms);
  const first = marks[0];
  put('CLI: start → workflow started (node startup, module load, validation, connect)', first.t - run.t0);
  for (let i = 1; i < marks.length; i++) put(label(marks[i - 1], marks[i]), marks[i].t - marks[i - 1].t);
  put('CLI: workflow closed → process exit (result, report, poll loop, close)', run.tEnd - marks[marks.length - 1].t);
  return segments;
}

/** The floor's steps for one task, from baseline.sh's trace, split by the container's events. */
function baselineSegments(run, containers) {
  const segments = new Map();
  const put = (k, ms) => segments.set(k, (segments.get(k) || 0) + ms);
  const steps = [...run.trace].sort((a, b) => a.start - b.start);
  let last = run.t0;
  const c = [...containers.byTask.values()][0] || {};
  for (const s of steps) {
    put('script: between steps (bash, process spawns)', Math.max(0, s.start - last));
    const name = `${s.task === '_merge' ? 'merge' : 'task'}: ${s.step}`;
    if (s.step === 'container' && c.create && c.start && c.die && c.destroy) {
      put('container: docker run → create', c.create - s.start);
      put('container: create → start', c.start - c.create);
      put('container: agent command runs (start → exit)', c.die - c.start);
      put('container: exit → removed (--rm)', c.destroy - c.die);
      put('container: removed → docker run returns', s.end - c.destroy);
    } else put(name, s.end - s.start);
    last = s.end;
  }
  put('script: last step → exit', run.tEnd - last);
  return segments;
}

/**
 * Per task, from Docker's events and the child's history: runAgent scheduled → container start (queue,
 * retries, preparing, create and start), and create → start inside Docker.
 */
function agentStartLatencies(children, events) {
  const first = new Map();
  for (const e of events) {
    if (!e.task) continue;
    const rec = first.get(e.task) || {};
    if (rec[e.action] === undefined) rec[e.action] = e.t;
    first.set(e.task, rec);
  }
  const scheduledToStart = [];
  const createToStart = [];
  for (const h of children) {
    const task = h.workflowId.slice(h.workflowId.lastIndexOf('/') + 1);
    const sched = h.events.find(
      (x) => x.type === 'ACTIVITY_TASK_SCHEDULED' && x.e.activityTaskScheduledEventAttributes.activityType.name === 'runAgent',
    );
    const c = first.get(task);
    if (!sched || !c || c.start === undefined) continue;
    scheduledToStart.push(c.start - sched.t);
    if (c.create !== undefined) createToStart.push(c.start - c.create);
  }
  return { scheduledToStart, createToStart };
}

/** A message for a table cell: one line, run ids and task ids replaced so that equal causes group. */
const oneLine = (msg) =>
  String(msg ?? '')
    .replace(/\s+/g, ' ')
    .replace(/bench-[a-z]+\d+-\d+-[0-9a-f]{4}/g, '<run>')
    .replace(/\/t\d{3}\b|\bt\d{3}\b/g, (m) => m.replace(/t\d{3}/, '<task>'))
    .replace(/\|/g, '/')
    .trim();

/** Why activities were retried or timed out: failure message → count, over a set of histories. */
function failureReasons(histories) {
  const out = new Map();
  const add = (msg) => out.set(msg, (out.get(msg) || 0) + 1);
  for (const h of histories) {
    const types = new Map();
    for (const x of h.events) {
      if (x.type === 'ACTIVITY_TASK_SCHEDULED') types.set(x.id, x.e.activityTaskScheduledEventAttributes.activityType?.name);
      if (x.type === 'ACTIVITY_TASK_STARTED') {
        const a = x.e.activityTaskStartedEventAttributes;
        const type = types.get(Number(a.scheduledEventId?.toString())) ?? 'activity';
        if ((a.attempt || 1) > 1 && a.lastFailure) add(`${type} retried after: ${oneLine(a.lastFailure.message)}`.slice(0, 160));
      } else if (x.type === 'ACTIVITY_TASK_TIMED_OUT') add(`final: ${oneLine(x.e.activityTaskTimedOutEventAttributes.failure?.message)}`);
      else if (x.type === 'ACTIVITY_TASK_FAILED')
        add(`final: ${oneLine(x.e.activityTaskFailedEventAttributes.failure?.message)}`.slice(0, 160));
      else if (x.type === 'WORKFLOW_TASK_TIMED_OUT') add('workflow task timed out (worker too busy to answer in 10 s)');
    }
  }
  return out;
}

/** Per-activity totals over a set of histories (for graphs with overlap): queue waits and execution. */
function activityTotals(histories) {
  const out = new Map();
  for (const h of histories) {
    const sched = new Map();
    const started = new Map();
    for (const ev of h.events) {
      if (ev.type === 'ACTIVITY_TASK_SCHEDULED')
        sched.set(ev.id, { name: ev.e.activityTaskScheduledEventAttributes.activityType.name, t: ev.t });
      if (ev.type === 'ACTIVITY_TASK_STARTED')
        started.set(Number(ev.e.activityTaskStartedEventAttributes.scheduledEventId.toString()), ev.t);
      if (ev.type === 'ACTIVITY_TASK_COMPLETED') {
        const id = Number(ev.e.activityTaskCompletedEventAttributes.scheduledEventId.toString());
        const s = sched.get(id);
        const st = started.get(id);
        if (!s) continue;
        const rec = out.get(s.name) || { count: 0, queueMs: [], execMs: [] };
        rec.count++;
        rec.queueMs.push(st - s.t);
        rec.execMs.push(ev.t - st);
        out.set(s.name, rec);
      }
    }
  }
  return out;
}

module.exports = {
  DockerWatch,
  containerStats,
  runAgentvisor,
  runBaseline,
  history,
  retries,
  oneTaskSegments,
  baselineSegments,
  activityTotals,
  agentStartLatencies,
  failureReasons,
};
