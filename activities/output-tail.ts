// The last lines of an agent's log, for its task's report (contract/task-output.ts): read from the
// end of the file (a log may be large), JSON event lines turned into the harness's short progress
// line (or left out), each line cut short, and secrets the worker knows replaced.
import { open } from 'node:fs/promises';
import type { Harness } from '../harnesses/harness';
import { OUTPUT_TAIL_LINES, OUTPUT_TAIL_LINE_CHARS } from '../contract/task-output';
import { redactString, secretValuesOf } from '../telemetry/logger';

/** Enough of the log's end for its last lines, however long JSON event lines are. */
const READ_BYTES = 256 * 1024;

export async function outputTail(logPath: string, harness: Harness, secrets: string[] = []): Promise<string[]> {
  let text: string;
  try {
    const file = await open(logPath, 'r');
    try {
      const { size } = await file.stat();
      const start = Math.max(0, size - READ_BYTES);
      const buffer = Buffer.alloc(size - start);
      await file.read(buffer, 0, buffer.length, start);
      text = buffer.toString('utf8');
      // a read that starts inside a line drops that line's end
      if (start > 0) text = text.slice(text.indexOf('\n') + 1);
    } finally {
      await file.close();
    }
  } catch {
    return []; // no log: the agent never started
  }
  const known = [...secrets, ...secretValuesOf()];
  const lines: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (!line.trim()) continue;
    const shown = line.trimStart().startsWith('{') ? harness.progress?.(line) : line;
    if (!shown) continue;
    const cut = shown.length > OUTPUT_TAIL_LINE_CHARS ? `${shown.slice(0, OUTPUT_TAIL_LINE_CHARS - 1)}…` : shown;
    lines.push(redactString(cut, known));
  }
  return lines.slice(-OUTPUT_TAIL_LINES);
}
