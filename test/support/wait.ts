import Docker from 'dockerode';
import { LABEL_ROLE, LABEL_RUN, LABEL_TASK } from '../../runtimes/runtime';

/** Polls until `cond` holds; fails naming what it waited for. */
export async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Counts container starts of a run as they happen. Live, because the engine keeps only a short
 * backlog of past events: a query afterwards can miss starts on a busy engine.
 */
export async function recordStarts(runId: string): Promise<{ counts: () => Record<string, number>; stop: () => void }> {
  const stream = (await new Docker().getEvents({
    filters: { label: [`${LABEL_RUN}=${runId}`], event: ['start'] },
  })) as unknown as NodeJS.ReadableStream & { destroy: () => void };
  const counts: Record<string, number> = {};
  let buffer = '';
  stream.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines.filter(Boolean)) {
      const attributes = JSON.parse(line).Actor.Attributes;
      // a task's collector (activities/workspace.ts) is its own container, counted apart
      const task = attributes[LABEL_TASK] + (attributes[LABEL_ROLE] === 'collector' ? ':collector' : '');
      counts[task] = (counts[task] ?? 0) + 1;
    }
  });
  return { counts: () => ({ ...counts }), stop: () => stream.destroy() };
}
