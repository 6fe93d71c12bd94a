// The coordination settings of a graph file as the workflow gets them, and the pure checks behind
// `agentvisor add` and agents' proposals (the e2e tests run them for real; these pin every message).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { checkAddedTasks } from '../../graph/additions';
import { parseGraph } from '../../graph/load';
import { parseTasksText } from '../../graph/tasks-file';

const graph = (
  extra: string,
  agents = '  a: { harness: command, command: "true", shared: rw }\n  b: { harness: command, command: "true", shared: ro }',
) => `name: g\nrepo: .\nagents:\n${agents}\ntasks:\n  - { id: t, agent: a, approval: { timeout: 90s } }\n${extra}`;

describe('coordination settings in a graph file', () => {
  test('resolve to the shared workspace, gates, proposals and conflict handling', () => {
    const { graph: g, problems } = parseGraph(
      graph(
        'merge: { approval: {}, onConflict: resolve, resolver: a, resolverTimeout: 5m }\nproposals: { from: [a] }\nshared: { keep: true }\n',
      ),
      '/x',
    );
    expect(problems).toEqual([]);
    expect(g!.agents.a.shared).toBe('rw');
    expect(g!.agents.b.shared).toBe('ro');
    expect(g!.shared).toEqual({ keep: true });
    expect(g!.tasks[0].approval).toEqual({ timeoutMs: 90_000, onTimeout: 'reject' });
    expect(g!.merge).toEqual({
      approval: { timeoutMs: 86_400_000, onTimeout: 'reject' },
      onConflict: 'resolve',
      resolver: 'a',
      resolverTimeoutMs: 300_000,
    });
    expect(g!.proposals).toEqual({ from: ['a'], maxTasks: 10, maxDepth: 1 });
  });

  test('proposals.agents: the agents proposed tasks may use; unknown ones are placed in the file', () => {
    expect(parseGraph(graph('proposals: { from: [a], agents: [a, b] }\n'), '/x').graph!.proposals).toEqual({
      from: ['a'],
      maxTasks: 10,
      maxDepth: 1,
      agents: ['a', 'b'],
    });
    expect(parseGraph(graph('proposals: { from: [a], agents: [b, ghost] }\n'), '/x').problems).toEqual([
      { path: 'proposals.agents.1', message: 'unknown agent "ghost" (agents: a, b)', line: 8, column: 37 },
    ]);
    expect(parseGraph(graph('proposals: { from: [a], agents: [] }\n'), '/x').problems).toMatchObject([
      { path: 'proposals.agents', line: 8, column: 33 },
    ]);
  });

  test("the README's coordination graph is a valid graph using every feature", () => {
    const readme = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
    const yaml = /## Coordination[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)![1];
    const { graph: g, problems } = parseGraph(yaml, '/x');
    expect(problems).toEqual([]);
    expect(g!.shared).toBeDefined();
    expect(g!.proposals).toBeDefined();
    expect(g!.tasks.some((t) => t.approval)).toBe(true);
    expect(g!.merge).toMatchObject({ approval: expect.anything(), onConflict: 'resolve', resolver: 'fixer' });
  });

  test('a graph without them resolves as graphs did before (nothing the workflow would act on)', () => {
    const { graph: g } = parseGraph(
      'name: g\nrepo: .\nagents:\n  a: { harness: command, command: "true" }\ntasks:\n  - { id: t, agent: a }\n',
      '/x',
    );
    expect([g!.shared, g!.merge, g!.proposals, g!.agents.a.shared, g!.tasks[0].approval]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('checkAddedTasks', () => {
  const existing = [
    { id: 'a', after: [], status: 'succeeded' },
    { id: 'b', after: ['a'], status: 'running' },
    { id: 'dead', after: [], status: 'failed' },
  ];
  const check = (added: { id: string; agent?: string; after?: string[] }[], reserved?: string[]) =>
    checkAddedTasks({ existing, agents: ['coder', 'tester'], added: added.map((t) => ({ agent: 'coder', after: [], ...t })), reserved });

  test('accepts tasks after existing and new tasks', () => {
    expect(
      check([
        { id: 'c', after: ['b'] },
        { id: 'd', after: ['c', 'a'] },
      ]),
    ).toEqual([]);
  });

  test('names every problem', () => {
    expect(check([])).toEqual(['no tasks to add']);
    expect(check([{ id: 'a' }])).toEqual(['task "a" is already in the run']);
    expect(check([{ id: 'x' }, { id: 'x' }])).toEqual(['duplicate task id "x"']);
    expect(check([{ id: '../x' }])[0]).toMatch(/^task id "\.\.\/x" is not a safe branch\/file name/);
    expect(check([{ id: 'x', agent: 'ghost' }])).toEqual(['unknown agent "ghost" of task "x" (agents: coder, tester)']);
    expect(check([{ id: 'x', after: ['nowhere'] }])).toEqual(['unknown dependency "nowhere" of task "x"']);
    expect(check([{ id: 'x', after: ['x'] }])).toEqual(['task "x" depends on itself']);
    expect(check([{ id: 'x', after: ['dead'] }])).toEqual(['task "x" depends on "dead", which failed']);
    expect(check([{ id: 'merge' }], ['merge'])).toEqual(['task id "merge" is taken by the merge\'s approval gate']);
    expect(
      check([
        { id: 'x', after: ['y'] },
        { id: 'y', after: ['x'] },
      ]),
    ).toEqual(['dependency cycle: x -> y -> x']);
  });
});

describe('parseTasksText', () => {
  test('takes tasks: [...], a list, or one task; a task without after starts from the default', () => {
    const forms = ['tasks:\n  - { id: x, agent: a }\n', '- { id: x, agent: a }\n', 'id: x\nagent: a\n', '{"id": "x", "agent": "a"}'];
    for (const text of forms)
      expect(parseTasksText(text, { defaultAfter: ['p'] }).tasks!.map((t) => [t.id, t.after])).toEqual([['x', ['p']]]);
    expect(parseTasksText('- { id: x, agent: a, after: [], timeout: 2m }\n', { defaultAfter: ['p'] }).tasks![0]).toMatchObject({
      after: [],
      timeoutMs: 120_000,
    });
  });

  test('reports problems with their place', () => {
    expect(parseTasksText('tasks:\n  - id: x\n    colour: red\n    agent: a\n').problems).toEqual([
      { message: 'unknown key "colour"', path: 'tasks.0.colour', line: 3, column: 5 },
    ]);
    expect(parseTasksText('tasks: []\n').problems).toEqual([{ message: 'no tasks', path: 'tasks', line: 1, column: 8 }]);
    expect(parseTasksText('42\n').problems).toEqual([{ message: 'expected a task, a list of tasks, or tasks: [...]' }]);
    expect(parseTasksText('a: [\n').problems[0].message).toMatch(/^YAML: /);
  });
});
