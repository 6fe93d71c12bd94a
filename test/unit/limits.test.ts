// Resource limits: the built-in defaults, a worker's own (flags, then environment), bad values
// refused with what is wrong, and a graph's limits over the defaults.
import { DEFAULT_LIMITS, describeLimits, effectiveLimits, workerLimits } from '../../activities/limits';
import { BadInputError } from '../../graph/problems';
import { parseGraph } from '../../graph/load';
import { CappedLog } from '../../activities/container-run';
import * as os from 'node:os';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

test('limits are on by default: memory 4g, 2 CPUs, 512 processes, a 10g workspace', () => {
  expect(DEFAULT_LIMITS).toEqual({ memoryBytes: 4 * GiB, cpus: 2, pids: 512, diskBytes: 10 * GiB });
  // (a host with a single core gets one CPU: the engine refuses more than the host has)
  expect(workerLimits({}, {})).toEqual({ ...DEFAULT_LIMITS, cpus: Math.min(2, os.availableParallelism()) });
  expect(describeLimits(DEFAULT_LIMITS)).toBe('memory 4g, cpus 2, pids 512, disk 10g');
});

test("a worker's defaults: the environment, and its flags over it", () => {
  const env = { AGENTVISOR_LIMIT_MEMORY: '8g', AGENTVISOR_LIMIT_CPUS: '4', AGENTVISOR_LIMIT_PIDS: '1024', AGENTVISOR_LIMIT_DISK: '20g' };
  expect(workerLimits({}, env)).toEqual({ memoryBytes: 8 * GiB, cpus: 4, pids: 1024, diskBytes: 20 * GiB });
  expect(workerLimits({ memory: '512m', cpus: '0.5', disk: 'off' }, env)).toEqual({
    memoryBytes: 512 * MiB,
    cpus: 0.5,
    pids: 1024,
    diskBytes: 0,
  });
  // an empty variable is unset
  expect(workerLimits({}, { AGENTVISOR_LIMIT_MEMORY: '' }).memoryBytes).toBe(4 * GiB);
});

test('bad values are refused, each saying where it came from', () => {
  const problems = (flags: object, env: NodeJS.ProcessEnv = {}) => {
    try {
      workerLimits(flags, env);
    } catch (err) {
      expect(err).toBeInstanceOf(BadInputError);
      return (err as BadInputError).problems.map((p) => p.message);
    }
    return [];
  };
  expect(problems({ memory: '1m', disk: '-3g', cpus: 'two', pids: '0' })).toEqual([
    '--memory "1m" is not a memory limit: expected a size of at least 16m, such as 512m or 4g',
    '--disk "-3g" is not a disk limit: expected a size of at least 16m, such as 512m or 4g, or off',
    '--cpus "two" is not a CPU limit: expected a number of cores such as 0.5 or 2',
    '--pids "0" is not a process limit: expected a whole number of at least 8, such as 512',
  ]);
  expect(problems({}, { AGENTVISOR_LIMIT_MEMORY: 'off', AGENTVISOR_LIMIT_CPUS: '0' })).toEqual([
    'AGENTVISOR_LIMIT_MEMORY "off" is not a memory limit: expected a size of at least 16m, such as 512m or 4g',
    'AGENTVISOR_LIMIT_CPUS "0" is not a CPU limit: expected a number of cores such as 0.5 or 2',
  ]);
});

test("a graph's limits win over the worker's defaults, field by field", () => {
  const defaults = DEFAULT_LIMITS;
  expect(effectiveLimits({}, defaults)).toEqual(defaults);
  expect(effectiveLimits(undefined, defaults)).toEqual(defaults);
  expect(effectiveLimits({ memoryBytes: GiB, diskBytes: 64 * MiB }, defaults)).toEqual({
    memoryBytes: GiB,
    cpus: 2,
    pids: 512,
    diskBytes: 64 * MiB,
  });
  // a worker without disk limits (no loop devices) cannot enforce a graph's
  expect(effectiveLimits({ diskBytes: 64 * MiB }, { ...defaults, diskBytes: 0 }).diskBytes).toBe(0);
});

describe('the graph file: limits.disk', () => {
  const graph = (limits: string) =>
    parseGraph(
      [
        'name: g',
        'repo: .',
        'agents:',
        `  a: { harness: command, command: "true", limits: ${limits} }`,
        'tasks:',
        '  - { id: t, agent: a }',
        `evaluate: { command: "true", limits: ${limits} }`,
        '',
      ].join('\n'),
      '/graphs',
    );

  test('takes the size syntax of memory, for agents and the evaluation', () => {
    const { graph: g } = graph('{ disk: 10g, memory: 2g }');
    expect(g!.agents.a.limits).toEqual({ memoryBytes: 2 * GiB, cpus: undefined, pids: undefined, diskBytes: 10 * GiB });
    expect(g!.evaluate!.limits.diskBytes).toBe(10 * GiB);
    expect(graph('{ disk: 64m }').graph!.agents.a.limits.diskBytes).toBe(64 * MiB);
    // none given: the worker's default applies
    expect(graph('{}').graph!.agents.a.limits.diskBytes).toBeUndefined();
  });

  test('refuses malformed and tiny sizes, with their place', () => {
    const { problems } = graph('{ disk: 1k, memory: 10 }');
    expect(problems).toEqual(
      expect.arrayContaining([
        { message: 'expected at least 16m', path: 'agents.a.limits.disk', line: 4, column: 59 },
        { message: 'expected at least 16m', path: 'agents.a.limits.memory', line: 4, column: 71 },
        expect.objectContaining({ message: 'expected at least 16m', path: 'evaluate.limits.disk' }),
      ]),
    );
    expect(graph('{ disk: big }').problems[0]).toMatchObject({
      message: 'expected a size such as 512m or 2g',
      path: 'agents.a.limits.disk',
    });
  });
});

test("an endless output keeps the log's start and its last MiB", () => {
  const log = new CappedLog(3 * MiB);
  const chunk = Buffer.alloc(MiB / 2, 'x');
  let written = 0;
  for (let i = 0; i < 20; i++) written += log.take(chunk).length;
  written += log.take(Buffer.from('the result')).length;
  expect(written).toBe(2 * MiB);
  const tail = log.tail()!.toString();
  expect(tail).toMatch(/^\n\[agentvisor: \d+ bytes of output left out/);
  expect(tail.endsWith('the result')).toBe(true);
  expect(tail.length).toBeLessThan(MiB + 200);
  expect(new CappedLog(3 * MiB).tail()).toBeUndefined();
});
