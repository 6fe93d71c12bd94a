import { Context } from '@temporalio/activity';

/**
 * Heartbeats while `work` runs, so a worker that dies mid-activity is noticed within the heartbeat
 * timeout (seconds) instead of the start-to-close timeout (minutes).
 */
export async function withHeartbeat<T>(what: string, work: () => Promise<T>, everyMs = 2000): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return work(); // not in an activity
  }
  ctx.heartbeat({ step: what });
  const timer = setInterval(() => ctx!.heartbeat({ step: what }), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
