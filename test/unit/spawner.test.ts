// The command helper: git and other short commands run from a small helper process, with their
// exit code and output intact, and the helper comes back if it dies.
import { runCommand, stopCommandHelper } from '../../activities/spawner';

afterAll(() => stopCommandHelper());

test('stdout, stderr and the exit code come back as the command left them', async () => {
  const ok = await runCommand('sh', ['-c', 'printf "a b\\n\\tc"; printf oops >&2; exit 0'], '/tmp');
  expect(ok).toEqual({ code: 0, stdout: 'a b\n\tc', stderr: 'oops' });
  const failed = await runCommand('sh', ['-c', 'echo no >&2; exit 3'], '/');
  expect(failed).toEqual({ code: 3, stdout: '', stderr: 'no\n' });
});

test('arguments are passed as they are (no shell), in the given folder', async () => {
  const r = await runCommand('sh', ['-c', 'pwd; printf "%s|" "$@"', 'sh', '$HOME', 'two words', ';rm'], '/tmp');
  expect(r.stdout).toBe('/tmp\n$HOME|two words|;rm|');
});

test('commands run in a helper process, not in this one', async () => {
  const r = await runCommand('sh', ['-c', 'echo $PPID'], '/');
  const parent = Number(r.stdout.trim());
  expect(parent).toBeGreaterThan(0);
  expect(parent).not.toBe(process.pid);
});

test('a missing program is an exit code, not a crash', async () => {
  const r = await runCommand('/no/such/program', [], '/');
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/ENOENT/);
});

test('after the helper dies, the next command starts a new one', async () => {
  const first = Number((await runCommand('sh', ['-c', 'echo $PPID'], '/')).stdout);
  process.kill(first, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 200));
  const r = await runCommand('sh', ['-c', 'echo $PPID'], '/');
  expect(r.code).toBe(0);
  expect(Number(r.stdout)).not.toBe(first);
});

test('many at once', async () => {
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => runCommand('sh', ['-c', `echo ${i}`], '/')));
  expect(results.map((r) => r.stdout.trim())).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
});
