// The shared workspace of a run with a remote (activities/remote-shared.ts) on real git: copies made
// on two "hosts" (two data folders, two clones) from one bare remote, written, then pushed one after
// the other, so that the second push always meets the first (the e2e test's hosts may or may not).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { coordinationActivities } from '../../activities/coordination';
import type { LocalActivities } from '../../activities/local';
import { ensureClone } from '../../activities/remote-git';
import { remoteSharedWorkspace } from '../../activities/remote-shared';
import type { TaskInput } from '../../contract/run-types';
import { until } from '../support/wait';

const git = (dir: string, ...args: string[]) => execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd: dir, encoding: 'utf8' });
const shared = remoteSharedWorkspace(coordinationActivities({}) as unknown as LocalActivities);
const ref = 'refs/agentvisor-shared/r1';

let root: string;
let remote: string;
const hosts: { clone: string; dir: string }[] = [];

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-shared-sync-'));
  remote = path.join(root, 'origin.git');
  git(root, 'init', '--quiet', '--bare', remote);
  for (const name of ['a', 'b']) {
    const dataDir = path.join(root, name);
    hosts.push({ clone: await ensureClone(dataDir, remote), dir: path.join(dataDir, 'runs', 'r1') });
  }
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

const task = (taskId: string) => ({ runId: 'r1', taskId }) as TaskInput;
const files = () => git(remote, 'ls-tree', '-r', '--format=%(objectmode) %(path)', ref).trim().split('\n').sort();
const show = (file: string) => git(remote, 'show', `${ref}:${file}`);

test('each copy starts from the ref; the later push wins per file; deletes travel; a retry pushes nothing; links stay links', async () => {
  const [a, b] = hosts;
  // no task has written yet: empty copies, and no ref until one pushes
  const copyA = await shared.copyIn(a.clone, a.dir, task('ta'));
  const copyB = await shared.copyIn(b.clone, b.dir, task('tb'));
  writeFileSync(path.join(copyA, 'same.txt'), 'A\n');
  writeFileSync(path.join(copyA, 'a.txt'), 'a\n');
  symlinkSync('/etc/shadow', path.join(copyA, 'leak'));
  mkdirSync(path.join(copyB, 'notes'));
  writeFileSync(path.join(copyB, 'notes', 'b.txt'), 'b\n');
  writeFileSync(path.join(copyB, 'same.txt'), 'B\n');
  await shared.publish(a.clone, a.dir, task('ta'));
  await shared.publish(b.clone, b.dir, task('tb')); // over a's push, which b's copy did not have
  expect(files()).toEqual(['100644 a.txt', '100644 notes/b.txt', '100644 same.txt', '120000 leak']);
  expect(show('same.txt')).toBe('B\n');
  expect(show('leak')).toBe('/etc/shadow');

  // pushed again (an activity's retry): nothing changes
  const tip = git(remote, 'rev-parse', ref);
  await shared.publish(b.clone, b.dir, task('tb'));
  expect(git(remote, 'rev-parse', ref)).toBe(tip);

  // two later tasks: c deletes a.txt and changes same.txt, d (copied before c pushed) adds d.txt
  const copyC = await shared.copyIn(a.clone, a.dir, task('tc'));
  const copyD = await shared.copyIn(b.clone, b.dir, task('td'));
  expect(readFileSync(path.join(copyD, 'notes', 'b.txt'), 'utf8')).toBe('b\n');
  rmSync(path.join(copyC, 'a.txt'));
  writeFileSync(path.join(copyC, 'same.txt'), 'C\n');
  writeFileSync(path.join(copyD, 'd.txt'), 'd\n');
  await shared.publish(a.clone, a.dir, task('tc'));
  await shared.publish(b.clone, b.dir, task('td'));
  expect(files()).toEqual(['100644 d.txt', '100644 notes/b.txt', '100644 same.txt', '120000 leak']);
  expect(show('same.txt')).toBe('C\n'); // d did not touch it: c's change stays

  // a copy that changed nothing pushes nothing; removed, it is gone
  const before = git(remote, 'rev-parse', ref);
  await shared.copyIn(a.clone, a.dir, task('te'));
  await shared.publish(a.clone, a.dir, task('te'));
  expect(git(remote, 'rev-parse', ref)).toBe(before);
  await shared.removeCopy(a.dir, 'te');
  expect(existsSync(path.join(a.dir, 'shared-copies', 'te'))).toBe(false);

  // a read-only copy follows the ref while its agent runs
  const watching = await shared.copyIn(b.clone, b.dir, task('tw'));
  const errors: unknown[] = [];
  const follow = shared.follow(b.clone, b.dir, task('tw'), (err) => errors.push(err));
  const copyF = await shared.copyIn(a.clone, a.dir, task('tf'));
  writeFileSync(path.join(copyF, 'notes', 'f.txt'), 'f\n');
  rmSync(path.join(copyF, 'd.txt'));
  await shared.publish(a.clone, a.dir, task('tf'));
  await until('the pushed file in the read-only copy', () => existsSync(path.join(watching, 'notes', 'f.txt')), 20_000);
  await follow.stop();
  expect(errors).toEqual([]);
  expect(readFileSync(path.join(watching, 'notes', 'f.txt'), 'utf8')).toBe('f\n');
  expect(existsSync(path.join(watching, 'd.txt'))).toBe(false);

  // the rollback's compensation removes the ref
  await shared.removeSharedWorkspace(a.clone, 'r1');
  expect(git(remote, 'for-each-ref', ref)).toBe('');
});
