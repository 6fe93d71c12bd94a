import Docker from 'dockerode';
import { LABEL_RUN, LABEL_TASK } from '../../runtimes/runtime';

/** Polls until `cond` holds; fails naming what it waited for. */
export async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How many times each task's container of a run was started since `since` (engine events). */
export async function containerStarts(runId: string, since: number): Promise<Record<string, number>> {
  const stream = (await new Docker().getEvents({
    since: Math.floor(since / 1000),
    until: Math.ceil(Date.now() / 1000),
    filters: { label: [`${LABEL_RUN}=${runId}`], event: ['start'] },
  })) as unknown as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  const counts: Record<string, number> = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const task = JSON.parse(line).Actor.Attributes[LABEL_TASK];
    counts[task] = (counts[task] ?? 0) + 1;
  }
  return counts;
}
