// The conventions of the CLI, through the real CLI process on this test's Temporal server: a run
// that is not found is exit 2 for every command that takes one, --version, shell completion (run by
// a real bash; zsh and fish parse theirs), refused option values, and a
// connection error that names the address and says how to start a server.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cli } from '../support/cli';
import { makeRepo, writeGraph } from '../support/repo';

const ROOT = path.join(__dirname, '..', '..');

const tasksFile = () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentvisor-conv-')), 'more.yaml');
  writeFileSync(file, 'tasks:\n  - { id: more, agent: w }\n');
  return file;
};

/** Every command that takes a run, as a user would type it for one. */
const VERBS: string[][] = [
  ['status', 'RUN'],
  ['status', 'RUN', '--exit-status'],
  ['status', 'RUN/task'],
  ['report', 'RUN'],
  ['logs', 'RUN'],
  ['logs', 'RUN', 'task'],
  ['cancel', 'RUN'],
  ['approve', 'RUN'],
  ['reject', 'RUN', '--reason', 'no'],
  ['add', 'RUN', 'FILE'],
  ['resume', 'RUN'],
  ['diff', 'RUN'],
  ['diff', 'RUN', 'task', '--stat'],
  ['checkout', 'RUN'],
  ['merge', 'RUN', '--into', 'main'],
  ['rm', 'RUN'],
  ['rm', 'RUN', '--dry-run'],
];

test.each(VERBS)('a run that is not found: %s %s … exits 2 naming it, printing nothing on stdout', async (...args: string[]) => {
  const file = tasksFile();
  const r = await cli(...args.map((a) => a.replace('RUN', 'no-such-run').replace('FILE', file)));
  expect(r).toMatchObject({ code: 2, stdout: '' });
  expect(r.stderr).toBe('error: no run with id "no-such-run"\n');
});

test('--version: the package version and the build id', async () => {
  const { version } = require(path.join(ROOT, 'package.json')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await cli(flag);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^agentvisor ${version.replace(/\./g, '\\.')} \\(build \\S+\\)\n$`));
  }
});

describe('shell completion', () => {
  // run ids complete from the run folders of the data folder
  const home = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-conv-home-'));
  for (const id of ['abc-1', 'abd-2']) mkdirSync(path.join(home, 'runs', id), { recursive: true });

  /** What bash completes for the words typed so far (the last one is being typed). */
  const complete = (script: string, ...words: string[]) =>
    execFileSync(
      'bash',
      [
        '-c',
        `${script}\nCOMP_WORDS=(agentvisor "$@"); COMP_CWORD=${words.length}; _agentvisor; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'bash',
        ...words,
      ],
      { encoding: 'utf8', env: { ...process.env, AGENTVISOR_HOME: home } },
    )
      .split('\n')
      .filter(Boolean)
      .sort();

  test('bash: commands, their options, option values, subcommands', async () => {
    const r = await cli('completion', 'bash');
    expect(r.code).toBe(0);
    expect(complete(r.stdout, 'd')).toEqual(['diff']);
    expect(complete(r.stdout, 'c')).toEqual(['cancel', 'checkout', 'completion']);
    expect(complete(r.stdout, 'ls', '--s')).toEqual(['--status']);
    expect(complete(r.stdout, 'diff', 'x', '--')).toEqual(['--help', '--json', '--stat']);
    expect(complete(r.stdout, 'rm', '--d')).toEqual(['--dry-run']);
    expect(complete(r.stdout, '--color', '')).toEqual(['always', 'auto', 'never']);
    expect(complete(r.stdout, 'images', 'b')).toEqual(['build']);
    expect(complete(r.stdout, 'images', 'build', '--mode', 'o')).toEqual(['offline']);
    expect(complete(r.stdout, 'ls', '--status', 'a')).toEqual(['awaiting_approval']);
    expect(complete(r.stdout, 'ls', '--graph', 'x')).toEqual([]);
    expect(complete(r.stdout, 'diff', 'ab')).toEqual(['abc-1', 'abd-2']);
    expect(complete(r.stdout, 'rm', 'abc')).toEqual(['abc-1']);
  });

  test('zsh and fish: every command, and each script parses in its shell', async () => {
    const help = (await cli('--help')).stdout;
    const commands = [...help.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]).filter((c) => c !== 'help');
    expect(commands).toEqual(expect.arrayContaining(['run', 'diff', 'checkout', 'merge', 'rm', 'completion']));
    const zsh = (await cli('completion', 'zsh')).stdout;
    const fish = (await cli('completion', 'fish')).stdout;
    expect(zsh.startsWith('#compdef agentvisor\n')).toBe(true);
    for (const c of commands) {
      expect(zsh).toContain(`'${c}:`);
      expect(fish).toContain(`-n __fish_use_subcommand -a ${c} -d`);
    }
    expect(fish).toContain("complete -c agentvisor -n '__fish_seen_subcommand_from rm' -l dry-run");
    // fish completes as it would for a user typing it
    const fishSays = (line: string) =>
      execFileSync('fish', ['-c', `${fish}\ncomplete -C '${line}'`], { encoding: 'utf8', env: { ...process.env, AGENTVISOR_HOME: home } });
    expect(fishSays('agentvisor di')).toMatch(/^diff\t/);
    expect(fishSays('agentvisor rm --d')).toMatch(/^--dry-run\t/);
    expect(fishSays('agentvisor diff ab').split('\n').filter(Boolean)).toEqual(['abc-1\trun', 'abd-2\trun']);
    for (const [shell, script] of [
      ['zsh', zsh],
      ['fish', fish],
    ]) {
      // -n: parse only (scripts/setup.sh installs both shells)
      execFileSync(shell, ['-n', '-c', script]);
    }
    expect((await cli('completion', 'tcsh')).code).toBe(2);
  });
});

test('validate --json: the graph it checked', async () => {
  const file = writeGraph(`
name: conv-valid
repo: ${makeRepo()}
agents:
  w: { harness: command, command: "true" }
tasks:
  - { id: a, agent: w }
  - { id: b, agent: w, after: [a] }
`);
  const r = await cli('validate', file, '--json');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toEqual({ file, ok: true, graph: 'conv-valid', tasks: ['a', 'b'] });
});

test('refused option values: exit 2, naming the option', async () => {
  const limit = await cli('ls', '--limit', '0');
  expect(limit).toMatchObject({ code: 2, stdout: '' });
  expect(limit.stderr).toContain("option '--limit <n>' argument '0' is invalid. Expected a positive whole number.");
  const port = await cli('server', '--port', 'abc');
  expect(port).toMatchObject({ code: 2, stdout: '' });
  expect(port.stderr).toBe("error: option '--port <port>' argument 'abc' is invalid. Expected a port number from 1 to 65535.\n");
  const retention = await cli('server', '--retention', '3weeks');
  expect(retention).toMatchObject({ code: 2, stdout: '' });
  expect(retention.stderr).toContain('retention must look like 30d or 720h, not "3weeks"');
  const status = await cli('ls', '--status', 'sleeping');
  expect(status.code).toBe(2);
  expect(status.stderr).toContain(
    "option '--status <status>' argument 'sleeping' is invalid. Allowed choices are running, awaiting_approval, completed, failed, cancelled",
  );
});

test('Temporal unreachable: the address, and how to start a server', async () => {
  const saved = process.env.TEMPORAL_ADDRESS;
  process.env.TEMPORAL_ADDRESS = '127.0.0.1:1';
  try {
    const r = await cli('ls');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe(
      'error: cannot reach the Temporal server at 127.0.0.1:1 (Failed to connect before the deadline): ' +
        'check TEMPORAL_ADDRESS, or unset it to use the local dev server\n',
    );
  } finally {
    process.env.TEMPORAL_ADDRESS = saved;
  }
});
