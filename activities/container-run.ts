// Runs one container to completion inside an activity: start or re-attach, stream its output to a
// log file, heartbeat while it runs, enforce the wall-clock limit, and stop it on cancellation.
import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { LABEL_ROLE, type ContainerRuntime, type ContainerSpec } from '../runtimes/runtime';
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
  },
): Promise<ContainerOutcome & { reattached: boolean }> {
  const ctx = activityContext();
  await mkdir(path.dirname(opts.logPath), { recursive: true });
  // The container outlives the activity (the workflow removes it once its result is recorded), so
  // an attempt after a worker crash finds it: running, it is re-attached; exited, its exit code is
  // the result. Either way the agent never runs twice.
  const existing = await runtime.inspect(spec.name);
  const reattached = existing.state !== 'missing';
  const asked = Date.now();
  // a busy engine can take longer than the heartbeat timeout to start a container (BENCHMARKS.md)
  const info = await withHeartbeat('start container', async () => {
    if (!reattached) await opts.beforeCreate?.();
    return runtime.start(spec);
  });
  if (!reattached) recordContainerStart(Date.now() - asked, spec.labels[LABEL_ROLE] ?? 'agent');
  const startedAt = info.startedAt?.getTime() ?? Date.now();

  // A re-attached container replays its output from the start, so the log file is rewritten.
  const file = createWriteStream(opts.logPath, { flags: 'w' });
  let lastLine = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').map((l) => l.trim()).filter(Boolean)) {
        const shown = opts.progress ? opts.progress(line) : line;
        if (shown) lastLine = shown.slice(0, 200);
      }
      file.write(chunk, done);
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
      runtime.wait(spec.name).then((exit) => ({ ...exit, timedOut: false })),
      new Promise<'timeout'>((resolve) => (deadline = setTimeout(() => resolve('timeout'), remaining))),
      ...(ctx ? [ctx.cancelled.then(() => 'cancelled' as const)] : []),
    ]).catch((err) => {
      if (err instanceof CancelledFailure) return 'cancelled' as const;
      throw err;
    });
    if (outcome === 'cancelled') {
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
      result = { exitCode: outcome.exitCode, oomKilled: outcome.oomKilled, timedOut: false, durationMs: Date.now() - startedAt, reattached, stoppedFor };
    }
    await logsDone;
    return result;
  } finally {
    clearInterval(timer);
    clearTimeout(deadline);
    // the sink may still hold demuxed output: flush it into the file before closing the file
    await new Promise<void>((resolve) => sink.end(resolve));
    await new Promise<void>((resolve) => file.end(resolve));
  }
}

/** Outside an activity (scripts, unit tests) there is no context: no heartbeats, no cancellation. */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
