// Prompts that cannot travel through Temporal are refused before anything runs, with the limit.
import { parseGraph } from '../../graph/load';
import { MAX_PROMPT_BYTES, MAX_PROMPTS_BYTES } from '../../graph/prompt-size';

const graph = (tasks: string, template = '') => `
name: sizes
repo: .
agents:
  a: { harness: command, command: "true"${template ? `, promptTemplate: "${template}"` : ''} }
tasks:
${tasks}`;

test('a prompt of 1 MB is taken', () => {
  const { problems } = parseGraph(graph(`  - { id: t, agent: a, prompt: "${'x'.repeat(1_000_000)}" }`), '/tmp');
  expect(problems).toEqual([]);
});

test('a prompt over the limit is refused at its line, with its size and the limit', () => {
  const { problems } = parseGraph(graph(`  - { id: t, agent: a, prompt: "${'x'.repeat(MAX_PROMPT_BYTES + 1)}" }`), '/tmp');
  expect(problems).toEqual([
    expect.objectContaining({
      path: 'tasks.0.prompt',
      line: 7,
      message: `the prompt of task "t" is 1024 KiB; at most 1024 KiB (prompts travel in the run's Temporal history)`,
    }),
  ]);
});

test('the template counts: a prompt under the limit that its template takes over it is refused', () => {
  const half = 'x'.repeat(MAX_PROMPT_BYTES / 2 + 10);
  const { problems } = parseGraph(graph(`  - { id: t, agent: a, prompt: "${half}" }`, '{{prompt}} {{prompt}}'), '/tmp');
  expect(problems[0].message).toContain("with its agent's promptTemplate");
});

test('prompts that are each small enough but too large together are refused, with the limit', () => {
  const each = 'x'.repeat(600 * 1024);
  const { problems } = parseGraph(graph([1, 2, 3].map((i) => `  - { id: t${i}, agent: a, prompt: "${each}" }`).join('\n')), '/tmp');
  expect(problems).toEqual([
    expect.objectContaining({
      message: `the prompts of the graph's tasks are 1800 KiB together; at most ${MAX_PROMPTS_BYTES / 1024} KiB (they travel together in the run's input)`,
    }),
  ]);
});
