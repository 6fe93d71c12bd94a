// The end of an agent's log as its task's report keeps it: the last lines, JSON events as the
// harness's progress lines (or left out), long lines cut, known secrets replaced.
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { outputTail } from '../../activities/output-tail';
import { OUTPUT_TAIL_LINES, OUTPUT_TAIL_LINE_CHARS } from '../../contract/task-output';
import type { Harness } from '../../harnesses/harness';

const harness = {
  name: 'test',
  defaultImage: 'x',
  build: () => ({ image: 'x', command: [], env: {} }),
  progress: (line: string) => (line.includes('"say"') ? `said ${JSON.parse(line).say}` : undefined),
} as Harness;

function log(text: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentvisor-tail-')), 'task.log');
  writeFileSync(file, text);
  return file;
}

test('the last lines, without blank ones, JSON events read by the harness', async () => {
  const lines = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
  const file = log([...lines, '', '{"say":"hello"}', '{"other":1}', 'error: it broke', ''].join('\n'));
  const tail = await outputTail(file, harness);
  expect(tail).toHaveLength(OUTPUT_TAIL_LINES);
  expect(tail.slice(-3)).toEqual(['line 40', 'said hello', 'error: it broke']);
});

test('long lines are cut; the task token and secret-shaped strings are replaced', async () => {
  const file = log(`${'x'.repeat(1000)}\nmy token is tok-123456789 and sk-ant-abcdefghijklmnop1234\n`);
  const [long, secret] = await outputTail(file, harness, ['tok-123456789']);
  expect(long).toHaveLength(OUTPUT_TAIL_LINE_CHARS);
  expect(secret).toBe('my token is [redacted] and [redacted]');
});

test('no log (the agent never started): no lines', async () => {
  expect(await outputTail('/nonexistent/task.log', harness)).toEqual([]);
});
