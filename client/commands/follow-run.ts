// How run and resume show a run: started, then its progress until it ends (or, detached, just its id).
import { publicReport } from '../report';
import { getRunReport, loadConfig, waitForRun, type StartOptions, type StartedRun } from '../api';
import { ProgressView } from '../progress';
import { isLive } from '../../contract/run-types';
import { ExitCode, printStderr, printSummary } from './shared';
import { handleInterrupts, INTERRUPTED_EXIT } from './interrupt';

/** The flags run and resume share. */
export type RunFlags = { detach?: boolean; json?: boolean; id?: string; keepOnFailure?: boolean; file?: string };

/** Starts a run (or resume) and, unless detached, shows its progress until it ends. */
export async function followRun(opts: RunFlags, start: (o: StartOptions) => Promise<StartedRun>) {
  const cfg = loadConfig();
  const started = await start({
    runId: opts.id,
    keepOnFailure: opts.keepOnFailure,
    config: cfg,
    log: printStderr,
    worker: opts.detach ? 'background' : 'in-process',
  });
  const { client, runId } = started;
  if (opts.detach) {
    if (opts.json) console.log(JSON.stringify({ runId, status: 'running', uiLink: started.uiLink }));
    else console.log(`run ${runId} started${started.uiLink ? `: ${started.uiLink}` : ''}`);
    return ExitCode.success;
  }
  if (!opts.json) console.log(`run ${runId}${started.uiLink ? `   Temporal UI: ${started.uiLink}` : ''}`);
  // Progress is polled only when shown (not with --json); the end of the run wakes the poll's
  // sleep, so the CLI exits as soon as the run is over rather than up to a second later.
  const view = opts.json ? undefined : new ProgressView(process.stdout, client);
  let polling = !!view;
  // while Ctrl-C asks a question or says what happens, the table is not redrawn over it
  let paused = false;
  let wake = () => {};
  const poll = (async () => {
    while (polling) {
      try {
        const report = await getRunReport(client, runId, cfg);
        if (!polling) break;
        if (!paused) view?.update(report);
        if (!isLive(report.status)) break;
      } catch {
        // the run may be between states; try again
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  })();
  const stopPolling = async () => {
    polling = false;
    wake();
    await poll;
  };
  let detach = () => {};
  const detached = new Promise<undefined>((resolve) => (detach = () => resolve(undefined)));
  const removeInterrupts = handleInterrupts({
    runId,
    client,
    cfg,
    stopWorker: started.stopWorker,
    pauseView: () => (paused = true),
    resumeView: () => {
      view?.release();
      paused = false;
    },
    detach,
  });
  try {
    const ended = waitForRun(client, runId, cfg);
    ended.catch(() => undefined); // once detached, the closed connection ends this wait: nobody reads it
    const report = await Promise.race([ended, detached]);
    // Ctrl-C detached: the run goes on without this process (interrupt.ts said how to follow it)
    if (!report) return INTERRUPTED_EXIT;
    await stopPolling();
    view?.update(report);
    if (opts.json) console.log(JSON.stringify(publicReport(report), null, 2));
    else printSummary(report, cfg);
    return report.status === 'completed' ? ExitCode.success : ExitCode.failed;
  } finally {
    removeInterrupts();
    await stopPolling();
    await started.stopWorker?.();
    await client.connection.close();
  }
}
