// Bad input for runs with a remote, through the real CLI: exit 2, the problem named, nothing left
// behind (no run folder, no ref in the remote). dist/ must be built.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cli } from '../support/cli';
import { makeRepo, writeGraph } from '../support/repo';

const git = (dir: string, ...args: string[]) => execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd: dir, encoding: 'utf8' });
const runsDir = () => path.join(process.env.AGENTVISOR_HOME!, 'runs');
const ourRuns = () => (existsSync(runsDir()) ? readdirSync(runsDir()).filter((r) => r.startsWith('remote-bad')) : []);

let origin: string;
beforeAll(() => {
  origin = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentvisor-origin-')), 'origin.git');
  git(os.tmpdir(), 'clone', '--quiet', '--bare', makeRepo(), origin);
});

const graph = (remote: string, extra = '', task = '{ id: t, agent: w, runsOn: host-a }') => `
name: remote-bad
remote: ${remote}
${extra}
agents:
  w: { harness: command, command: "true" }
tasks:
  - ${task}
`;

test.each<[string, () => string, RegExp]>([
  [
    'a remote that is not there',
    () => graph('/nonexistent/origin.git'),
    /remote: cannot read the remote \/nonexistent\/origin\.git: fatal: .*does not appear to be a git repository/,
  ],
  [
    'a base branch the remote lacks',
    () => graph(origin, 'baseBranch: develop'),
    /baseBranch: base branch "develop" is not on the remote .*origin\.git/,
  ],
  [
    'runsOn without remote',
    () => graph(origin).replace(`remote: ${origin}`, `repo: ${makeRepo()}`),
    /tasks\.0\.runsOn: runsOn needs remote/,
  ],
  [
    'a malformed placement',
    () => graph(origin, '', '{ id: t, agent: w, runsOn: { host: a, labels: gpu } }'),
    /tasks\.0\.runsOn\.labels: Invalid input: expected array, received string/,
  ],
  [
    'proposals with a remote',
    () => graph(origin, 'proposals: { from: [w] }'),
    /proposals: a run with remote cannot take proposals yet: an agent's drop folder is on its host/,
  ],
  [
    'move without a host',
    () => graph(origin, '', '{ id: t, agent: w, runsOn: { labels: [gpu], wait: 1m, otherwise: move } }'),
    /otherwise: move needs a host to move away from/,
  ],
])('%s: exit 2, nothing made', async (_, text, message) => {
  const before = git(origin, 'for-each-ref');
  const file = writeGraph(text());
  for (const command of [
    ['validate', file],
    ['run', file, '--detach'],
  ]) {
    const result = await cli(...command);
    expect({ command: command[0], code: result.code, stderr: result.stderr }).toEqual({
      command: command[0],
      code: 2,
      stderr: expect.stringMatching(message),
    });
  }
  expect(git(origin, 'for-each-ref')).toBe(before);
  expect(ourRuns()).toEqual([]);
});

test('a run id the remote has seen: exit 2', async () => {
  git(origin, 'branch', 'agentvisor/remote-bad-used', 'main');
  const result = await cli('run', writeGraph(graph(origin)), '--id', 'remote-bad-used', '--detach');
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('run id "remote-bad-used" was used before: branch agentvisor/remote-bad-used exists on the remote');
  expect(ourRuns()).toEqual([]);
});

test('bad worker flags: exit 2 before connecting', async () => {
  for (const [args, message] of [
    [['--host', 'a b'], '--host "a b" is not a valid host name'],
    [['--host', 'a', '--capacity', 'lots'], '--capacity "lots" is not a positive whole number'],
    [['--labels', 'gpu'], '--labels and --capacity describe a host: give --host NAME too'],
  ] as const) {
    const result = await cli('worker', ...args);
    expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 2, stderr: expect.stringContaining(message) });
  }
});
