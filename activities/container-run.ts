// Runs one container to completion inside an activity: start or re-attach, stream its output to a
// log file, heartbeat while it runs, enforce the wall-clock limit, and stop it on cancellation.
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { ContainerCannotRun, LABEL_ROLE, type ContainerRuntime, type ContainerSpec } from '../runtimes/runtime';
import { recordContainerStart } from './metrics';
import { withHeartbeat } from './heartbeat';

export interface ContainerOutcome {
  /** set when `watch` stopped the container */
  stoppedFor?: string;
  exitCode: number;
  oomKilled: boolean;
  timedOut: boolean;
  durationMs: number;
}

/** What the Temporal UI shows of a running container: never the environment, only progress. */
export interface ContainerHeartbeat {
  container: string;
  elapsedMs: number;
  lastLine: string;
}

export async function runContainer(
  runtime: ContainerRuntime,
  spec: ContainerSpec,
  opts: {
    logPath: string;
    timeoutMs: number;
    heartbeatMs?: number;
    /** runs only when no container of that name exists yet: a fresh start, not a re-attach */
    beforeCreate?: () => Promise<void>;
    /** turns an output line into the progress line heartbeats show (the harness's parser) */
    progress?: (line: string) => string | undefined;
    /** asked at every heartbeat: a reason to stop the container now (e.g. its budget is spent) */
    watch?: () => Promise<string | undefined>;
    /** the log file's size at most (about): its start and its last MiB; default LOG_LIMIT_BYTES */
    logLimitBytes?: number;
  },
): Promise<ContainerOutcome & { reattached: boolean }> {
  const ctx = activityContext();
  // where the platform can, it ends the container at the limit by itself (a Job's deadline)
  spec = { ...spec, deadlineSeconds: spec.deadlineSeconds ?? Math.ceil(opts.timeoutMs / 1000) };
  await mkdir(path.dirname(opts.logPath), { recursive: true });
  // The container outlives the activity (the workflow removes it once its result is recorded), so
  // an attempt after a worker crash finds it: running, it is re-attached; exited, its exit code is
  // the result. Either way the agent never runs twice.
  const asked = Date.now();
  // A busy engine can take longer than the heartbeat timeout to start a container, and a worker
  // that asks for 200 at once gets them all late: heartbeat throughout, and start a few at a time.
  const { reattached, info } = await withHeartbeat('start container', async () => {
    const existing = await runtime.inspect(spec.name);
    if (existing.state !== 'missing') return { reattached: true, info: await runtime.start(spec) };
    return containerStarts.run(ctx, async () => {
      await opts.beforeCreate?.();
      return { reattached: false, info: await runtime.start(spec) };
    });
  }).catch(cannotRunFails);
  if (!reattached) recordContainerStart(Date.now() - asked, spec.labels[LABEL_ROLE] ?? 'agent');
  const startedAt = info.startedAt?.getTime() ?? Date.now();

  // A re-attached container replays its output from the start, so the log file is rewritten.
  const file = createWriteStream(opts.logPath, { flags: 'w' });
  const capped = new CappedLog(opts.logLimitBytes ?? LOG_LIMIT_BYTES);
  let lastLine = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk
        .toString('utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)) {
        const shown = opts.progress ? opts.progress(line) : line;
        if (shown) lastLine = shown.slice(0, 200);
      }
      const head = capped.take(chunk);
      if (head.length) file.write(head, done);
      else done();
    },
  });
  // output that arrives after the end (a cancelled run's last words) is dropped, never a crash
  sink.on('error', () => undefined);
  file.on('error', () => undefined);
  const logsDone = runtime.logs(spec.name, sink, { follow: true }).catch(() => undefined);

  let stoppedFor: string | undefined;
  let watching = false;
  const beat = () => {
    ctx?.heartbeat({ container: spec.name, elapsedMs: Date.now() - startedAt, lastLine } satisfies ContainerHeartbeat);
    if (opts.watch && !watching && !stoppedFor) {
      watching = true;
      opts
        .watch()
        .then(async (reason) => {
          if (reason && !stoppedFor) {
            stoppedFor = reason;
            await runtime.stop(spec.name, 2);
          }
        })
        .catch(() => undefined)
        .finally(() => (watching = false));
    }
  };
  beat();
  const timer = setInterval(beat, opts.heartbeatMs ?? 2000);
  const remaining = Math.max(0, startedAt + opts.timeoutMs - Date.now());
  let deadline: NodeJS.Timeout | undefined;

  try {
    const outcome = await Promise.race([
      runtime.wait(spec.name).then((exit) => ({ ...exit, timedOut: exit.timedOut ?? false })),
      new Promise<'timeout'>((resolve) => (deadline = setTimeout(() => resolve('timeout'), remaining))),
      ...(ctx ? [ctx.cancelled.then(() => 'cancelled' as const)] : []),
    ]).catch((err) => {
      if (err instanceof CancelledFailure) return 'cancelled' as const;
      return cannotRunFails(err);
    });
    if (outcome === 'cancelled') {
      // A worker stopping (SIGTERM) hands the container back, running: the next attempt, on any
      // worker, re-attaches to it, so the agent's work goes on instead of starting over.
      if (ctx?.cancellationDetails?.workerShutdown) {
        throw ApplicationFailure.retryable(
          `the worker stopped; container ${spec.name} keeps running for the next attempt to re-attach`,
          'WorkerShutdown',
        );
      }
      await runtime.stop(spec.name, 5);
      await runtime.remove(spec.name);
      throw new CancelledFailure('agent container stopped: the activity was cancelled');
    }
    let result: ContainerOutcome & { reattached: boolean };
    if (outcome === 'timeout') {
      await runtime.stop(spec.name, 5);
      const exit = await runtime.wait(spec.name);
      result = { exitCode: exit.exitCode, oomKilled: false, timedOut: true, durationMs: Date.now() - startedAt, reattached };
    } else {
      result = {
        exitCode: outcome.exitCode,
        oomKilled: outcome.oomKilled,
        timedOut: outcome.timedOut,
        durationMs: Date.now() - startedAt,
        reattached,
        stoppedFor,
      };
    }
    await logsDone;
    return result;
  } finally {
    clearInterval(timer);
    clearTimeout(deadline);
    // the sink may still hold demuxed output: flush it into the file before closing the file
    await new Promise<void>((resolve) => sink.end(resolve));
    const tail = capped.tail();
    if (tail) file.write(tail);
    await new Promise<void>((resolve) => file.end(resolve));
  }
}

/**
 * An agent's output may be endless (`yes`): the log file on the worker's disk keeps its first bytes
 * up to the limit and its last MiB (where CLIs print their result), with a line saying how much was
 * left out between. The engine's own copy is bounded too (runtimes/docker.ts, LogConfig).
 */
export const LOG_LIMIT_BYTES = 64 * 1024 ** 2;
const LOG_TAIL_BYTES = 1024 ** 2;

export class CappedLog {
  private written = 0;
  private dropped = 0;
  private last: Buffer[] = [];
  private lastBytes = 0;
  constructor(readonly limit: number) {}

  /** The part of `chunk` to write now; the rest is kept as the tail (its last MiB). */
  take(chunk: Buffer): Buffer {
    const room = Math.max(0, this.limit - LOG_TAIL_BYTES - this.written);
    const head = chunk.subarray(0, room);
    this.written += head.length;
    const rest = chunk.subarray(head.length);
    if (rest.length) {
      this.last.push(Buffer.from(rest));
      this.lastBytes += rest.length;
      while (this.lastBytes - this.last[0].length >= LOG_TAIL_BYTES) {
        this.lastBytes -= this.last[0].length;
        this.dropped += this.last.shift()!.length;
      }
    }
    return head;
  }

  /** What goes at the end of the file: the kept tail, after a line saying what was left out. */
  tail(): Buffer | undefined {
    if (!this.lastBytes) return undefined;
    let tail = Buffer.concat(this.last);
    if (tail.length > LOG_TAIL_BYTES) {
      this.dropped += tail.length - LOG_TAIL_BYTES;
      tail = tail.subarray(tail.length - LOG_TAIL_BYTES);
    }
    const note = this.dropped
      ? `\n[agentvisor: ${this.dropped} bytes of output left out: the log keeps its first ${this.limit - LOG_TAIL_BYTES} bytes and its last ${LOG_TAIL_BYTES}]\n`
      : '';
    return Buffer.concat([Buffer.from(note), tail]);
  }
}

/**
 * At most `limit` container starts at once in this process. Docker serialises much of a create
 * anyway; 198 asked at once took up to 27 s each to start and their attempts timed out, where a
 * queue of four starts in flight kept each start under a second (BENCHMARKS.md, fan-out of 200).
 */
export class StartSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly limit: number) {}

  async run<T>(ctx: Context | undefined, work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      const granted = new Promise<void>((resolve) => this.waiting.push(resolve));
      if (ctx) {
        // cancelled while queued: give the slot back as soon as it comes, and start nothing
        const cancelled = await Promise.race([
          granted.then(() => false),
          ctx.cancelled.then(
            () => true,
            () => true,
          ),
        ]);
        if (cancelled) {
          void granted.then(() => this.release());
          throw new CancelledFailure('cancelled while waiting to start its container');
        }
      } else await granted;
    } else this.active++;
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  /** hands the slot to the next in line (active stays the same) or frees it */
  private release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}

const containerStarts = new StartSlots(Math.max(1, Number(process.env.AGENTVISOR_CONTAINER_STARTS) || 4));

/** An image that is not there does not come by retrying: the task fails at once, saying why. */
function cannotRunFails(err: unknown): never {
  if (err instanceof ContainerCannotRun) throw ApplicationFailure.nonRetryable(err.message, err.name);
  throw err;
}

/** Outside an activity (scripts, unit tests) there is no context: no heartbeats, no cancellation. */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * SIGKILL (137) or SIGTERM (143) that agentvisor did not send: a `docker kill`, a daemon restart, a
 * reboot. Transient: the task is retried per its policy. An out-of-memory kill is the agent's own.
 */
export function killedFromOutside(o: ContainerOutcome): boolean {
  return !o.timedOut && !o.oomKilled && !o.stoppedFor && (o.exitCode === 137 || o.exitCode === 143);
}
