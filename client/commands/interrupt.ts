// What Ctrl-C does while `run` (or `resume`) follows a run. The run is a workflow on the server, so
// the CLI exiting does not end it; what matters is who executes it:
// - a worker outside this process: the first Ctrl-C detaches at once; the run goes on, and the
//   commands to watch or cancel it are printed;
// - this process's own worker (the only one): exiting would leave the run with nobody to execute
//   it. On a terminal the CLI asks (cancel, hand over to a background worker, or keep going);
//   elsewhere it cancels the run and stays until the rollback is done.
// A second Ctrl-C exits at once, saying in what state the run was left.
import type { Client } from '@temporalio/client';
import { cancelRun, spawnBackgroundWorker } from '../api';
import type { ClientConfig } from '../config';
import { printStderr } from './shared';

/** The exit code of a command a Ctrl-C ended before its run was over (128 + SIGINT, as shells report it). */
export const INTERRUPTED_EXIT = 130;

export interface InterruptContext {
  runId: string;
  client: Client;
  cfg: ClientConfig;
  /** set when this process runs the only worker of the run */
  stopWorker?: () => Promise<void>;
  /** stops and resumes the live table while a question or a message is shown */
  pauseView: () => void;
  resumeView: () => void;
  /** ends the following: the command returns, the run goes on elsewhere */
  detach: () => void;
  input?: NodeJS.ReadStream;
}

type Choice = 'cancel' | 'handover' | 'continue';

/** The commands to watch or cancel a run that goes on without this process. */
export function watchHints(runId: string): string {
  return `  watch it:  agentvisor status ${runId} -w\n  cancel it: agentvisor cancel ${runId}`;
}

/** Handles SIGINT while a run is followed; returns the function that removes the handler. */
export function handleInterrupts(ctx: InterruptContext): () => void {
  let first = true;
  let cancelling = false;
  let asking = false;
  const input = ctx.input ?? process.stdin;

  const exitNow = () => {
    const state = cancelling
      ? ctx.stopWorker
        ? `run ${ctx.runId} was being cancelled, and this process was its only worker: its rollback waits for a worker.\n  finish it: agentvisor worker`
        : `run ${ctx.runId} is being cancelled by its worker.\n  watch it: agentvisor status ${ctx.runId} -w`
      : ctx.stopWorker
        ? `run ${ctx.runId} is still running, with no worker: it waits until one is started (agent containers already running keep running).\n  go on with it: agentvisor worker\n${watchHints(ctx.runId)}`
        : `run ${ctx.runId} goes on.\n${watchHints(ctx.runId)}`;
    printStderr(`\nexiting at once: ${state}`);
    process.exit(INTERRUPTED_EXIT);
  };

  const cancel = async () => {
    cancelling = true;
    printStderr(
      `\ncancelling run ${ctx.runId}: its agents are stopped and its work is rolled back by this process, its only worker; ` +
        'this takes a few seconds (Ctrl-C again exits at once and leaves the rollback to a later worker)',
    );
    ctx.resumeView();
    try {
      await cancelRun(ctx.client, ctx.runId);
    } catch (err) {
      printStderr(`error: could not cancel run ${ctx.runId}: ${(err as Error).message}`);
    }
  };

  const handover = async () => {
    const pid = spawnBackgroundWorker(ctx.cfg);
    printStderr(`handing run ${ctx.runId} over to the background worker (pid ${pid}); this process stops its own worker first`);
    await ctx.stopWorker?.();
    printStderr(`detached: run ${ctx.runId} goes on in the background worker.\n${watchHints(ctx.runId)}`);
    ctx.detach();
  };

  const onInterrupt = () => {
    if (asking) return; // the question reads Ctrl-C as a key
    if (!first) return exitNow();
    first = false;
    if (!ctx.stopWorker) {
      ctx.pauseView();
      printStderr(`\ndetached: run ${ctx.runId} goes on (a worker outside this process executes it).\n${watchHints(ctx.runId)}`);
      ctx.detach();
      return;
    }
    if (!input.isTTY || !process.stderr.isTTY) {
      ctx.pauseView();
      void cancel();
      return;
    }
    ctx.pauseView();
    asking = true;
    void ask(input).then((choice) => {
      asking = false;
      if (choice === 'interrupt') return exitNow();
      if (choice === 'cancel') return void cancel();
      if (choice === 'handover') return void handover();
      first = true; // keep going: the next Ctrl-C asks again
      printStderr('going on');
      ctx.resumeView();
    });
  };

  process.on('SIGINT', onInterrupt);
  return () => {
    process.off('SIGINT', onInterrupt);
  };
}

/** Asks what to do with a run this process alone executes; one key, no Enter needed. */
function ask(input: NodeJS.ReadStream): Promise<Choice | 'interrupt'> {
  process.stderr.write(
    '\nThis process is the only worker of the run: if it exits, nobody executes the run.\n' +
      '  c  cancel the run (its work is rolled back)\n' +
      '  d  detach: a background worker takes the run over\n' +
      '  k  keep going\n' +
      'Your choice [c/d/k]: ',
  );
  return new Promise((resolve) => {
    input.setRawMode(true);
    input.resume();
    const onData = (data: Buffer) => {
      const key = data.toString().toLowerCase();
      const choice = key.includes('\x03')
        ? 'interrupt'
        : key.startsWith('c')
          ? 'cancel'
          : key.startsWith('d')
            ? 'handover'
            : key.startsWith('k') || key.startsWith('\r')
              ? 'continue'
              : undefined;
      if (!choice) return; // another key: still waiting
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write(`${choice === 'interrupt' ? '^C' : key.trim()}\n`);
      resolve(choice);
    };
    input.on('data', onData);
  });
}
