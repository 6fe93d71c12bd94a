// Placements (runsOn) and remotes in the graph file, and the task queues they become. Bad ones are
// reported with their place in the file, as every other graph problem is (the CLI exits 2).
import { parseGraph } from '../../graph/load';
import { hostOptions, identityOf, parseIdentity } from '../../workers/host';
import { hostQueue, labelQueuesOf, labelsQueue, placementQueues } from '../../contract/queues';

const BASE = '/graphs/here';
const yaml = (...lines: string[]) => lines.join('\n') + '\n';
/** A graph on a remote with one agent; the task's runsOn (and any extra top-level lines) as given. */
const graphWith = (runsOn: string, ...extra: string[]) =>
  yaml(
    'name: g',
    'remote: ../origin.git',
    'agents:',
    '  a: { harness: command, command: "true" }',
    'tasks:',
    `  - { id: t, agent: a, runsOn: ${runsOn} }`,
    ...extra,
  );

const problemsOf = (text: string) => {
  const result = parseGraph(text, BASE);
  expect(result.graph).toBeUndefined();
  return result.problems.map((p) => ({ message: p.message, path: p.path, line: p.line }));
};

describe('a valid placement', () => {
  test('a host name, an object, labels; the remote path is resolved from the graph file; merge and evaluation too', () => {
    const { graph, problems } = parseGraph(
      yaml(
        'name: g',
        'remote: ../origin.git',
        'agents:',
        '  a: { harness: command, command: "true" }',
        'tasks:',
        '  - { id: one, agent: a, runsOn: host-a }',
        '  - { id: two, agent: a, runsOn: { host: host-b, labels: [gpu, big-memory, gpu], wait: 2m, otherwise: move } }',
        '  - { id: three, agent: a, runsOn: { labels: [gpu], wait: 90s } }',
        '  - { id: four, agent: a }',
        'merge: { runsOn: host-a }',
        'evaluate: { command: "true", runsOn: { labels: [gpu] } }',
      ),
      BASE,
    );
    expect(problems).toEqual([]);
    expect(graph!.remote).toBe('/graphs/origin.git');
    expect(graph!.repo).toBe('/graphs/origin.git');
    expect(graph!.tasks.map((t) => t.runsOn)).toEqual([
      { host: 'host-a', otherwise: 'fail' },
      { host: 'host-b', labels: ['big-memory', 'gpu'], waitMs: 120_000, otherwise: 'move' },
      { labels: ['gpu'], waitMs: 90_000, otherwise: 'fail' },
      undefined,
    ]);
    expect(graph!.mergeRunsOn).toEqual({ host: 'host-a', otherwise: 'fail' });
    expect(graph!.evaluate!.runsOn).toEqual({ labels: ['gpu'], otherwise: 'fail' });
  });

  test('URLs stay as written', () => {
    for (const remote of [
      'git@github.com:org/repo.git',
      'https://git.example.com/org/repo.git',
      'ssh://git@host:2222/srv/repo.git',
      'file:///srv/repo.git',
    ]) {
      const { graph } = parseGraph(
        yaml(
          'name: g',
          `remote: "${remote}"`,
          'agents:',
          '  a: { harness: command, command: "true" }',
          'tasks:',
          '  - { id: t, agent: a }',
        ),
        BASE,
      );
      expect(graph!.remote).toBe(remote);
    }
  });

  test('a graph without remote or runsOn resolves as before (no new keys in what the workflow gets)', () => {
    const { graph } = parseGraph(
      yaml('name: g', 'repo: .', 'agents:', '  a: { harness: command, command: "true" }', 'tasks:', '  - { id: t, agent: a }'),
      BASE,
    );
    expect(JSON.parse(JSON.stringify(graph!.tasks[0]))).not.toHaveProperty('runsOn');
    expect(JSON.parse(JSON.stringify(graph))).not.toHaveProperty('remote');
    expect(graph!.repo).toBe(BASE);
  });
});

describe('bad placements and remotes', () => {
  test.each<[string, string, { message: string; path?: string; line?: number }[]]>([
    [
      'a host name with a space',
      '"host a"',
      [{ message: 'expected a host name: letters, digits, ., - and _ (at most 63)', path: 'tasks.0.runsOn', line: 6 }],
    ],
    [
      'a bad host in the object',
      '{ host: "a/b" }',
      [{ message: 'expected a host name: letters, digits, ., - and _ (at most 63)', path: 'tasks.0.runsOn.host', line: 6 }],
    ],
    [
      'an unknown outcome',
      '{ host: a, wait: 1m, otherwise: stay }',
      [{ message: 'Invalid option: expected one of "fail"|"move"', path: 'tasks.0.runsOn.otherwise', line: 6 }],
    ],
    ['an unknown key', '{ hots: a }', [{ message: 'unknown key "hots"', path: 'tasks.0.runsOn.hots', line: 6 }]],
    ['a number', '5', [{ message: 'expected a host name, or { host, labels, wait, otherwise }', path: 'tasks.0.runsOn', line: 6 }]],
    [
      'a bad duration',
      '{ host: a, wait: soon }',
      [{ message: 'expected a duration such as 90s, 10m or 1h', path: 'tasks.0.runsOn.wait', line: 6 }],
    ],
    [
      'no labels',
      '{ labels: [] }',
      [{ message: 'labels: give at least one label, or leave labels out', path: 'tasks.0.runsOn.labels', line: 6 }],
    ],
    ['neither host nor labels', '{ wait: 1m }', [{ message: 'runsOn needs a host or labels', path: 'tasks.0.runsOn', line: 6 }]],
    [
      'otherwise without wait',
      '{ host: a, otherwise: move }',
      [{ message: 'otherwise needs wait: it says what happens when the wait runs out', path: 'tasks.0.runsOn.otherwise', line: 6 }],
    ],
    [
      'move with labels only',
      '{ labels: [gpu], wait: 1m, otherwise: move }',
      [
        {
          message: 'otherwise: move needs a host to move away from; a labels placement already waits for every host that has the labels',
          path: 'tasks.0.runsOn.otherwise',
          line: 6,
        },
      ],
    ],
  ])('%s', (_, runsOn, expected) => {
    expect(problemsOf(graphWith(runsOn))).toEqual(expected);
  });

  test('runsOn (of a task, the merge or the evaluation) without remote', () => {
    const text = yaml(
      'name: g',
      'repo: .',
      'agents:',
      '  a: { harness: command, command: "true" }',
      'tasks:',
      '  - { id: t, agent: a, runsOn: host-a }',
      'merge: { runsOn: host-a }',
      'evaluate: { command: "true", runsOn: host-a }',
    );
    const needs = 'runsOn needs remote: work on other hosts reaches the repository through a git remote the graph names';
    expect(problemsOf(text)).toEqual([
      { message: needs, path: 'tasks.0.runsOn', line: 6 },
      { message: needs, path: 'merge.runsOn', line: 7 },
      { message: needs, path: 'evaluate.runsOn', line: 8 },
    ]);
  });

  test('repo and remote both, or neither', () => {
    const agents = ['agents:', '  a: { harness: command, command: "true" }', 'tasks:', '  - { id: t, agent: a }'];
    expect(problemsOf(yaml('name: g', 'repo: .', 'remote: ../o.git', ...agents))).toEqual([
      {
        message:
          'give repo or remote, not both: with remote, every host works in its own clone of it and the run never touches a local repository',
        path: 'remote',
        line: 3,
      },
    ]);
    expect(problemsOf(yaml('name: g', ...agents))).toEqual([
      { message: 'a graph needs repo (a local repository) or remote (a git remote shared by several hosts)', path: 'repo', line: 1 },
    ]);
  });

  test('a token in the remote URL; the shared workspace and the gateway with a remote', () => {
    expect(
      problemsOf(
        yaml(
          'name: g',
          'remote: "https://bot:ghp_secret@github.com/o/r.git"',
          'agents:',
          '  a: { harness: command, command: "true" }',
          'tasks:',
          '  - { id: t, agent: a }',
        ),
      ),
    ).toEqual([
      {
        message:
          'the remote URL holds a password or token; leave it out and give the workers git credentials of their own (a credential helper or an SSH key)',
        path: 'remote',
        line: 2,
      },
    ]);
    // the shared workspace works with a remote (activities/remote-shared.ts); proposals do not yet
    expect(parseGraph(graphWith('host-a').replace('command: "true" }', 'command: "true", shared: rw }'), BASE).problems).toEqual([]);
    expect(
      problemsOf(graphWith('host-a', 'proposals: { from: [a] }').replace('command: "true" }', 'command: "true", shared: rw }')),
    ).toEqual([
      {
        message:
          "a run with remote cannot take proposals yet: an agent's drop folder is on its host, and the run reads it where the workflow's steps run; leave proposals out, or use repo",
        path: 'proposals',
        line: 7,
      },
    ]);
    // each host that runs model-backed agents starts a gateway of its own (workflows/host-gateways.ts)
    const gated = parseGraph(graphWith('host-a', 'gateway: { mode: live }'), BASE);
    expect([gated.problems, gated.graph?.gateway?.mode]).toEqual([[], 'live']);
  });
});

describe('queues', () => {
  test('a placement tries its host, then (move) a host with its labels or any host', () => {
    expect(placementQueues(undefined)).toEqual(['agentvisor-any-host']);
    expect(placementQueues({ host: 'a', otherwise: 'fail' })).toEqual([hostQueue('a')]);
    expect(placementQueues({ host: 'a', otherwise: 'move', waitMs: 1 })).toEqual(['agentvisor-host-a', 'agentvisor-any-host']);
    expect(placementQueues({ host: 'a', labels: ['gpu'], otherwise: 'move', waitMs: 1 })).toEqual([
      'agentvisor-host-a',
      'agentvisor-labels-gpu',
    ]);
    expect(placementQueues({ labels: ['x', 'gpu'], otherwise: 'fail' })).toEqual(['agentvisor-labels-gpu+x']);
  });

  test('a worker with labels serves every combination of them, named as a placement names it', () => {
    expect(labelQueuesOf(['gpu', 'big-memory'])).toEqual([
      labelsQueue(['big-memory']),
      labelsQueue(['gpu']),
      labelsQueue(['gpu', 'big-memory']),
    ]);
    expect(labelQueuesOf(['a', 'b', 'c', 'd'])).toHaveLength(15);
  });

  test("a host's identity, as the server lists it among a queue's pollers, reads back", () => {
    const id = identityOf({ name: 'host-a', labels: ['big-memory', 'gpu'], capacity: 3 });
    expect(parseIdentity(id)).toMatchObject({ name: 'host-a', labels: ['big-memory', 'gpu'], capacity: 3 });
    expect(parseIdentity('12345@machine')).toBeUndefined();
  });

  test('worker flags: bad ones are bad input', () => {
    expect(hostOptions({ host: 'h', labels: 'gpu, big-memory,gpu', capacity: '2' }, 32)).toEqual({
      name: 'h',
      labels: ['big-memory', 'gpu'],
      capacity: 2,
    });
    expect(hostOptions({}, 32)).toBeUndefined();
    expect(() => hostOptions({ host: 'bad host' }, 32)).toThrow('--host "bad host" is not a valid host name');
    expect(() => hostOptions({ host: 'h', capacity: '0' }, 32)).toThrow('--capacity "0" is not a positive whole number');
    expect(() => hostOptions({ host: 'h', labels: 'a,b,c,d,e' }, 32)).toThrow('--labels: at most 4 labels');
    expect(() => hostOptions({ labels: 'gpu' }, 32)).toThrow('--labels and --capacity describe a host: give --host NAME too');
  });
});
