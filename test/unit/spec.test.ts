// The graph file format: parsing, schema, structure checks and the resolved GraphSpec.
// Every expectation is exact (messages, paths, lines and columns) so that a regression in any of
// them shows up here rather than as a vague error in front of a user.
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadGraphFile, loadGraphOrThrow, parseGraph } from '../../graph/load';
import { findCycle, topologicalOrder, SAFE_ID } from '../../graph/graph-checks';
import { BadInputError, formatProblem, type Problem } from '../../graph/problems';
import { DEFAULT_EVALUATE_TIMEOUT_MS, DEFAULT_TASK_TIMEOUT_MS } from '../../graph/types';

const BASE = '/graphs/here';
const yaml = (...lines: string[]) => lines.join('\n') + '\n';

/** A graph with one command agent `a`; tasks are the given YAML lines (starting at line 6). */
const withTasks = (...taskLines: string[]) =>
  yaml('name: g', 'repo: .', 'agents:', '  a: { harness: command, command: "true" }', 'tasks:', ...taskLines);

function problemsOf(text: string): Problem[] {
  const result = parseGraph(text, BASE);
  expect(result.graph).toBeUndefined();
  return result.problems;
}

describe('parseGraph: a valid graph', () => {
  const text = yaml(
    'name: demo', //                                                         1
    'repo: ../repos/sample', //                                              2
    'agents:', //                                                            3
    '  coder:', //                                                           4
    '    harness: command', //                                               5
    '    command: echo code', //                                             6
    '    limits: { memory: 512m, cpus: 1.5, pids: 64 }', //                  7
    '  auditor:', //                                                         8
    '    harness: command', //                                               9
    '    command: echo audit', //                                            10
    '    readOnly: true', //                                                 11
    '    credentials: { anthropic: env:ANTHROPIC_API_KEY, openai: file:/run/key }', // 12
    '    env: { LEVEL: strict }', //                                         13
    'tasks:', //                                                             14
    '  - id: test', //                                                       15
    '    agent: coder', //                                                   16
    '    after: [implement, docs]', //                                       17
    '    timeout: 90', //                                                    18
    '  - id: implement', //                                                  19
    '    agent: coder', //                                                   20
    '    prompt: Write it.', //                                              21
    '    timeout: 2m', //                                                    22
    '  - id: docs', //                                                       23
    '    agent: auditor', //                                                 24
    '    after: [implement]', //                                             25
    '    timeout: 1.5h', //                                                  26
    '  - id: audit', //                                                      27
    '    agent: auditor', //                                                 28
    'evaluate:', //                                                          29
    '  command: npm test', //                                                30
  );

  const { graph, problems } = parseGraph(text, BASE);

  it('has no problems', () => {
    expect(problems).toEqual([]);
    expect(graph).toBeDefined();
  });

  it('applies the defaults', () => {
    expect(graph!.baseBranch).toBe('main');
    expect(graph!.failFast).toBe(true);
    const audit = graph!.tasks.find((t) => t.id === 'audit')!;
    expect(audit.prompt).toBe('');
    expect(audit.after).toEqual([]);
    expect(audit.timeoutMs).toBe(DEFAULT_TASK_TIMEOUT_MS);
    expect(DEFAULT_TASK_TIMEOUT_MS).toBe(30 * 60 * 1000);
    expect(graph!.agents.coder.readOnly).toBe(false);
    expect(graph!.agents.coder.credentials).toEqual({});
    expect(graph!.agents.coder.env).toEqual({});
    expect(graph!.agents.auditor.limits).toEqual({ memoryBytes: undefined, cpus: undefined, pids: undefined });
    expect(graph!.evaluate).toEqual({
      command: 'npm test',
      image: undefined,
      timeoutMs: DEFAULT_EVALUATE_TIMEOUT_MS,
      limits: { memoryBytes: undefined, cpus: undefined, pids: undefined },
    });
    expect(DEFAULT_EVALUATE_TIMEOUT_MS).toBe(10 * 60 * 1000);
  });

  it('converts timeouts to milliseconds and sizes to bytes', () => {
    const timeouts = Object.fromEntries(graph!.tasks.map((t) => [t.id, t.timeoutMs]));
    expect(timeouts).toEqual({ implement: 120_000, docs: 5_400_000, test: 90_000, audit: 1_800_000 });
    expect(graph!.agents.coder.limits).toEqual({ memoryBytes: 512 * 1024 * 1024, cpus: 1.5, pids: 64 });
  });

  it('reads a bare number of seconds written as a string, and milliseconds', () => {
    const g = parseGraph(withTasks('  - { id: t, agent: a, timeout: "45" }', '  - { id: u, agent: a, timeout: 250ms }'), BASE).graph!;
    expect(g.tasks.map((t) => t.timeoutMs)).toEqual([45_000, 250]);
  });

  it('keeps agents as written, with their names', () => {
    expect(graph!.agents.auditor).toEqual({
      name: 'auditor',
      harness: 'command',
      image: undefined,
      command: 'echo audit',
      model: undefined,
      promptTemplate: undefined,
      credentials: { anthropic: 'env:ANTHROPIC_API_KEY', openai: 'file:/run/key' },
      readOnly: true,
      env: { LEVEL: 'strict' },
      limits: { memoryBytes: undefined, cpus: undefined, pids: undefined },
      allowHosts: [],
      budget: undefined,
    });
    expect(graph!.tasks.find((t) => t.id === 'implement')!.prompt).toBe('Write it.');
  });

  it('resolves the repository relative to the directory given', () => {
    expect(graph!.repo).toBe('/graphs/repos/sample');
  });

  it('orders tasks so that each comes after its dependencies (file order breaks ties)', () => {
    expect(graph!.tasks.map((t) => t.id)).toEqual(['implement', 'docs', 'test', 'audit']);
  });

  it('keeps an absolute repository path as it is', () => {
    const g = parseGraph(text.replace('repo: ../repos/sample', 'repo: /srv/repo'), BASE).graph!;
    expect(g.repo).toBe('/srv/repo');
  });

  it('takes an explicit base branch and failFast', () => {
    const g = parseGraph(text.replace('repo: ../repos/sample', 'repo: .\nbaseBranch: develop\nfailFast: false'), BASE).graph!;
    expect(g.baseBranch).toBe('develop');
    expect(g.failFast).toBe(false);
    expect(g.repo).toBe(BASE);
  });
});

describe('loadGraphFile', () => {
  it('loads the example graph, resolving its repo next to the file', () => {
    const file = path.join(__dirname, '../../examples/three-agents/graph.yaml');
    const { graph, problems } = loadGraphFile(file);
    expect(problems).toEqual([]);
    expect(graph!.name).toBe('three-agents');
    expect(graph!.repo).toBe(path.resolve(__dirname, '../../examples/three-agents/sample-repo'));
    expect(graph!.tasks.map((t) => t.id)).toEqual(['implement-multiply', 'write-usage', 'audit', 'test-multiply']);
    expect(graph!.tasks.every((t) => t.timeoutMs === 120_000)).toBe(true);
    expect(graph!.agents.coder.limits).toEqual({ memoryBytes: 536_870_912, cpus: 1, pids: 128 });
    expect(graph!.agents.auditor.readOnly).toBe(true);
    expect(graph!.evaluate!.timeoutMs).toBe(120_000);
  });

  it('resolves a relative repo against the directory of the file, not the working directory', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-spec-'));
    const file = path.join(dir, 'g.yaml');
    writeFileSync(file, withTasks('  - { id: t, agent: a }').replace('repo: .', 'repo: ./sub/repo'));
    expect(loadGraphFile(file).graph!.repo).toBe(path.join(dir, 'sub', 'repo'));
  });

  it('reports a file that cannot be read', () => {
    const missing = path.join(os.tmpdir(), 'agentvisor-no-such-dir', 'graph.yaml');
    expect(loadGraphFile(missing)).toEqual({ problems: [{ message: 'cannot read graph file: ENOENT' }] });
  });

  it('loadGraphOrThrow throws BadInputError with the file and every problem', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-spec-'));
    const file = path.join(dir, 'g.yaml');
    writeFileSync(file, withTasks('  - { id: t, agent: nobody }', '  - { id: u, agent: a, after: [ghost] }'));
    let thrown: unknown;
    try {
      loadGraphOrThrow(file);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(BadInputError);
    const e = thrown as BadInputError;
    expect(e.file).toBe(file);
    expect(e.problems.map((p) => p.path)).toEqual(['tasks.0.agent', 'tasks.1.after.0']);
    expect(e.message).toBe(
      [
        `${file}:6:21: tasks.0.agent: unknown agent "nobody" (agents: a)`,
        `${file}:7:32: tasks.1.after.0: unknown dependency "ghost" of task "u"`,
      ].join('\n'),
    );
  });
});

describe('parseGraph: YAML syntax errors', () => {
  it('reports a mis-indented key with its line and column', () => {
    const problems = problemsOf(
      yaml('name: g', 'repo: .', 'agents:', '  a:', '    harness: command', '   command: "true"', 'tasks:', '  - { id: t, agent: a }'),
    );
    expect(problems).toEqual([{ message: 'YAML: All mapping items must start at the same column', line: 6, column: 1 }]);
  });

  it('reports a duplicate key where the duplicate is', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: a', '    id: u'));
    expect(problems).toEqual([{ message: 'YAML: Map keys must be unique', line: 8, column: 5 }]);
  });

  it('reports tab indentation', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: a', '\tprompt: x'));
    expect(problems).toEqual([{ message: 'YAML: Tabs are not allowed as indentation', line: 8, column: 1 }]);
  });

  it('formats a YAML problem as file:line:column', () => {
    const [p] = problemsOf(withTasks('  - id: t', '    agent: a', '    id: u'));
    expect(formatProblem('g.yaml', p)).toBe('g.yaml:8:5: YAML: Map keys must be unique');
  });
});

describe('parseGraph: schema errors', () => {
  it('reports an unknown top-level key at its own line', () => {
    const problems = problemsOf(
      yaml('name: g', 'repo: .', 'bogus: 1', 'agents:', '  a: { harness: command, command: "true" }', 'tasks:', '  - { id: t, agent: a }'),
    );
    expect(problems).toEqual([{ message: 'unknown key "bogus"', path: 'bogus', line: 3, column: 1 }]);
  });

  it('reports each unknown key of an agent at its own line, even when its value starts on the next line', () => {
    const problems = problemsOf(
      yaml(
        'name: g', //                 1
        'repo: .', //                 2
        'agents:', //                 3
        '  a:', //                    4
        '    harness: command', //    5
        '    command: "true"', //     6
        '    colour: red', //         7
        '    extras:', //             8
        '      x: 1', //              9
        'tasks:', //                  10
        '  - { id: t, agent: a }', // 11
      ),
    );
    expect(problems).toEqual([
      { message: 'unknown key "colour"', path: 'agents.a.colour', line: 7, column: 5 },
      { message: 'unknown key "extras"', path: 'agents.a.extras', line: 8, column: 5 },
    ]);
  });

  it('reports an unknown key in a task', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: a', '    depends: [x]'));
    expect(problems).toEqual([{ message: 'unknown key "depends"', path: 'tasks.0.depends', line: 8, column: 5 }]);
  });

  it('reports a value of the wrong type at the value', () => {
    const problems = problemsOf(
      yaml(
        'name: g',
        'repo: .',
        'agents:',
        '  a:',
        '    harness: command',
        '    command: "true"',
        '    readOnly: "yes"',
        'tasks:',
        '  - { id: t, agent: a }',
      ),
    );
    expect(problems).toEqual([
      { message: 'Invalid input: expected boolean, received string', path: 'agents.a.readOnly', line: 7, column: 15 },
    ]);
  });

  it('reports a list where a string is expected (after given as a string)', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: a', '    after: t0'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'tasks.0.after', line: 8, column: 12 });
    expect(problems[0].message).toMatch(/expected array, received string/);
  });

  it('reports a malformed duration', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: a', '    timeout: 10 parsecs'));
    expect(problems).toEqual([{ message: 'expected a duration such as 90s, 10m or 1h', path: 'tasks.0.timeout', line: 8, column: 14 }]);
  });

  it('reports a malformed size', () => {
    const problems = problemsOf(
      yaml(
        'name: g',
        'repo: .',
        'agents:',
        '  a:',
        '    harness: command',
        '    command: "true"',
        '    limits: { memory: lots }',
        'tasks:',
        '  - { id: t, agent: a }',
      ),
    );
    expect(problems).toEqual([{ message: 'expected a size such as 512m or 2g', path: 'agents.a.limits.memory', line: 7, column: 23 }]);
  });

  it('refuses a credential written as the secret itself', () => {
    const problems = problemsOf(
      yaml(
        'name: g',
        'repo: .',
        'agents:',
        '  a:',
        '    harness: command',
        '    command: "true"',
        '    credentials:',
        '      anthropic: sk-ant-api03-abcdef',
        'tasks:',
        '  - { id: t, agent: a }',
      ),
    );
    expect(problems).toEqual([
      {
        message:
          'expected a reference: env:VARIABLE, file:/path or (a Kubernetes worker) secret:NAME/KEY, a Secret of its namespace (never the secret itself)',
        path: 'agents.a.credentials.anthropic',
        line: 8,
        column: 18,
      },
    ]);
  });

  it('refuses an env: reference that is not a variable name', () => {
    const problems = problemsOf(
      yaml(
        'name: g',
        'repo: .',
        'agents:',
        '  a: { harness: command, command: "true", credentials: { anthropic: "env:1BAD" } }',
        'tasks:',
        '  - { id: t, agent: a }',
      ),
    );
    expect(problems.map((p) => [p.path, p.line])).toEqual([['agents.a.credentials.anthropic', 4]]);
  });

  it('refuses an unknown harness', () => {
    const problems = problemsOf(yaml('name: g', 'repo: .', 'agents:', '  a:', '    harness: copilot', 'tasks:', '  - { id: t, agent: a }'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'agents.a.harness', line: 5, column: 14 });
    expect(problems[0].message).toContain('"command"');
    expect(problems[0].message).toContain('"claude-code"');
  });

  it('reports a missing required key at the map that lacks it', () => {
    const problems = problemsOf(yaml('name: g', 'agents:', '  a: { harness: command, command: "true" }', 'tasks:', '  - id: t'));
    expect(problems).toEqual([
      { message: 'Invalid input: expected string, received undefined', path: 'tasks.0.agent', line: 5, column: 5 },
      {
        message: 'a graph needs repo (a local repository) or remote (a git remote shared by several hosts)',
        path: 'repo',
        line: 1,
        column: 1,
      },
    ]);
  });

  it('needs at least one agent and one task', () => {
    const problems = problemsOf(yaml('name: g', 'repo: .', 'agents: {}', 'tasks: []'));
    expect(problems).toEqual([
      { message: 'a graph needs at least one agent', path: 'agents', line: 3, column: 9 },
      { message: 'a graph needs at least one task', path: 'tasks', line: 4, column: 8 },
    ]);
  });

  it('refuses an empty file and a file that is not a mapping', () => {
    expect(problemsOf('')).toEqual([{ message: 'Invalid input: expected object, received null' }]);
    expect(problemsOf('- a\n- b\n')).toEqual([{ message: 'Invalid input: expected object, received array', line: 1, column: 1 }]);
  });
});

describe('parseGraph: structure errors', () => {
  it('reports an unknown agent, naming it and the agents there are', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: coder'));
    expect(problems).toEqual([{ message: 'unknown agent "coder" (agents: a)', path: 'tasks.0.agent', line: 7, column: 12 }]);
  });

  it('reports an unknown dependency', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: a', '  - id: u', '    agent: a', '    after: [t, missing]'));
    expect(problems).toEqual([{ message: 'unknown dependency "missing" of task "u"', path: 'tasks.1.after.1', line: 10, column: 16 }]);
  });

  it('reports a task that depends on itself (and not as a cycle)', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: a', '    after: [t]'));
    expect(problems).toEqual([{ message: 'task "t" depends on itself', path: 'tasks.0.after.0', line: 8, column: 13 }]);
  });

  it('reports a duplicate id at the second occurrence, naming the first', () => {
    const problems = problemsOf(withTasks('  - id: t', '    agent: a', '  - id: u', '    agent: a', '  - id: t', '    agent: a'));
    expect(problems).toEqual([{ message: 'duplicate task id "t" (first at tasks.0)', path: 'tasks.2.id', line: 10, column: 9 }]);
  });

  const unsafeMessage = (id: string) =>
    `task id "${id}" is not a safe branch/file name (use letters, digits, - and _; at most 63; start with a letter or digit)`;

  it.each([['../x'], ['a b'], ['.hidden'], ['x'.repeat(64)], ['-lead'], ['a/b'], ['a.lock'], ['ü']])(
    'refuses the unsafe task id %j',
    (id) => {
      const problems = problemsOf(withTasks(`  - id: ${JSON.stringify(id)}`, '    agent: a'));
      expect(problems).toEqual([{ message: unsafeMessage(id), path: 'tasks.0.id', line: 6, column: 9 }]);
    },
  );

  it.each([['x'.repeat(63)], ['A1_b-2'], ['9lives']])('accepts the safe task id %j', (id) => {
    const { graph, problems } = parseGraph(withTasks(`  - id: ${id}`, '    agent: a'), BASE);
    expect(problems).toEqual([]);
    expect(graph!.tasks[0].id).toBe(id);
    expect(SAFE_ID.test(id)).toBe(true);
  });

  it('reports a command agent without a command', () => {
    const problems = problemsOf(yaml('name: g', 'repo: .', 'agents:', '  a:', '    harness: command', 'tasks:', '  - { id: t, agent: a }'));
    expect(problems).toEqual([
      { message: 'agent "a" uses the command harness but has no command', path: 'agents.a.command', line: 5, column: 5 },
    ]);
  });

  it('does not need a command for other harnesses', () => {
    const { problems } = parseGraph(
      yaml('name: g', 'repo: .', 'agents:', '  a:', '    harness: claude-code', 'tasks:', '  - { id: t, agent: a }'),
      BASE,
    );
    expect(problems).toEqual([]);
  });

  it('reports a three-task cycle as a closed path, in the direction work flows', () => {
    const problems = problemsOf(
      withTasks(
        '  - { id: a, agent: a, after: [c] }', // 6
        '  - { id: b, agent: a, after: [a] }', // 7
        '  - { id: c, agent: a, after: [b] }', // 8
        '  - { id: d, agent: a }', //             9
      ),
    );
    expect(problems).toEqual([{ message: 'dependency cycle: a -> b -> c -> a', path: 'tasks.0.after', line: 6, column: 31 }]);
  });

  it('reports a cycle that does not include the first task', () => {
    const problems = problemsOf(
      withTasks(
        '  - { id: start, agent: a }', //                 6
        '  - { id: x, agent: a, after: [start, y] }', //  7
        '  - { id: y, agent: a, after: [x] }', //         8
      ),
    );
    expect(problems).toEqual([{ message: 'dependency cycle: x -> y -> x', path: 'tasks.1.after', line: 7, column: 31 }]);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(
      withTasks('  - { id: "../x", agent: nobody, after: [ghost] }', '  - { id: ok, agent: a }', '  - { id: ok, agent: a }'),
    );
    expect(problems.map((p) => `${p.line}:${p.path}`)).toEqual(['6:tasks.0.id', '6:tasks.0.agent', '8:tasks.2.id', '6:tasks.0.after.0']);
  });
});

describe('findCycle', () => {
  const t = (id: string, ...after: string[]) => ({ id, after });

  it('finds none in a DAG', () => {
    expect(findCycle([t('a'), t('b', 'a'), t('c', 'a', 'b'), t('d', 'c')])).toBeUndefined();
    expect(findCycle([])).toBeUndefined();
  });

  it('returns a closed path with exactly the members of the cycle, dependency first', () => {
    expect(findCycle([t('a', 'c'), t('b', 'a'), t('c', 'b')])).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle([t('a', 'b'), t('b', 'a')])).toEqual(['a', 'b', 'a']);
  });

  it('leaves out tasks that lead into the cycle but are not on it', () => {
    expect(findCycle([t('entry', 'p'), t('p', 'r'), t('q', 'p'), t('r', 'q'), t('free')])).toEqual(['p', 'q', 'r', 'p']);
  });

  it('ignores self-dependencies and unknown ids (reported elsewhere)', () => {
    expect(findCycle([t('a', 'a'), t('b', 'ghost', 'a')])).toBeUndefined();
  });
});

describe('topologicalOrder', () => {
  const t = (id: string, ...after: string[]) => ({ id, after, extra: id.toUpperCase() });

  it('puts each task after its dependencies and keeps file order otherwise', () => {
    const ordered = topologicalOrder([t('d', 'c'), t('a'), t('c', 'b', 'a'), t('b'), t('e')]);
    expect(ordered.map((x) => x.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(ordered[0]).toEqual({ id: 'a', after: [], extra: 'A' });
  });

  it('keeps an already ordered list as it is', () => {
    const tasks = [t('a'), t('b', 'a'), t('c')];
    expect(topologicalOrder(tasks)).toEqual(tasks);
  });

  it('throws on a cycle instead of looping', () => {
    expect(() => topologicalOrder([t('a', 'b'), t('b', 'a')])).toThrow('graph has a cycle');
  });
});
