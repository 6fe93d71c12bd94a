// Copy-out from a pod is an archive the agent made: a hostile one (setuid files, files of other
// users, devices, `..` and absolute names, symlinks written through, hard links to the worker's
// files) must land in the worktree defused, and nothing may land outside it. The pod's side is a
// fake exec that sends a hand-built tar; the worker's side is the real copyOut, with the real tar.
import { EventEmitter } from 'node:events';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { confineExtracted, copyIn, copyOut } from '../../runtimes/kubernetes/copy';

type Entry = {
  name: string;
  type?: '0' | '1' | '2' | '3' | '5' | '6';
  mode?: number;
  uid?: number;
  gid?: number;
  data?: string;
  linkname?: string;
};

/** A ustar archive, written by hand so that it can say anything. */
function tarOf(entries: Entry[]): Buffer {
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100);
    h.write(oct(e.mode ?? 0o644, 8), 100);
    h.write(oct(e.uid ?? 1000, 8), 108);
    h.write(oct(e.gid ?? 1000, 8), 116);
    h.write(oct((e.type ?? '0') === '0' ? data.length : 0, 12), 124);
    h.write(oct(1_700_000_000, 12), 136);
    h.fill(' ', 148, 156);
    h.write(e.type ?? '0', 156);
    h.write(e.linkname ?? '', 157, 100);
    h.write('ustar\0', 257);
    h.write('00', 263);
    h.write(oct(1, 8), 329); // devmajor/minor 1,3: /dev/null's numbers, for the device entry
    h.write(oct(3, 8), 337);
    let sum = 0;
    for (const byte of h) sum += byte;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h);
    if ((e.type ?? '0') === '0') blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** The pod: its copy-out container's `tar -c` answers with `archive`; every other command succeeds. */
function podSending(archive: Buffer) {
  const exec = {
    exec: async (
      _ns: string,
      _pod: string,
      _c: string,
      command: string[],
      stdout: Writable | null,
      _e: unknown,
      _i: unknown,
      _t: boolean,
      done: (s: { status: string }) => void,
    ) => {
      const ws = Object.assign(new EventEmitter(), { close: () => undefined });
      setImmediate(() => {
        if (command[0] === 'tar' && stdout) stdout.write(archive);
        done({ status: 'Success' });
        ws.emit('close');
      });
      return ws;
    },
  };
  return { exec: exec as never, namespace: 'ns', pod: 'pod' };
}

let base: string;
let outside: string;
let worktree: string;
const secret = () => path.join(outside, 'secret.txt');

beforeEach(() => {
  base = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-copy-out-'));
  outside = path.join(base, 'outside');
  worktree = path.join(base, 'work', 'tree');
  mkdirSync(outside);
  mkdirSync(worktree, { recursive: true });
  writeFileSync(secret(), 'the worker’s secret\n');
  writeFileSync(path.join(worktree, '.git'), 'gitdir: /repo/.git/worktrees/tree\n');
  writeFileSync(path.join(worktree, 'old.txt'), 'deleted in the pod\n');
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

const copy = (entries: Entry[]) =>
  copyOut(podSending(tarOf(entries)), [{ volume: 'm0', source: worktree, target: '/workspace', readOnly: false }]);
const ls = (dir: string) => readdirSync(dir).sort();

/** Nothing outside the worktree changed: the outside folder, the worktree's parent, the secret. */
function expectNothingOutside() {
  expect(ls(outside)).toEqual(['secret.txt']);
  expect(readFileSync(secret(), 'utf8')).toBe('the worker’s secret\n');
  expect(statSync(secret()).nlink).toBe(1);
  expect(ls(path.dirname(worktree))).toEqual(['tree']); // no scratch folder left, nothing written next to it
  expect(ls(base)).toEqual(['outside', 'work']);
}

test('setuid bits, other owners, devices and FIFOs are defused; files, folders and symlinks come back', async () => {
  await copy([
    { name: './', type: '5', mode: 0o7777 },
    { name: './setuid', mode: 0o4755, uid: 0, gid: 0, data: '#!/bin/sh\nid\n' },
    { name: './setgid-dir/', type: '5', mode: 0o2775 },
    { name: './setgid-dir/f', mode: 0o2755, data: 'f' },
    { name: './sticky', mode: 0o1777, data: 's' },
    { name: './owned', uid: 4242, gid: 4343, data: 'owned by someone else' },
    { name: './null', type: '3', mode: 0o666 },
    { name: './fifo', type: '6', mode: 0o666 },
    { name: './link', type: '2', linkname: 'setuid' },
    { name: './.git', data: 'gitdir: /elsewhere\n' },
  ]);
  expect(ls(worktree)).toEqual(['.git', 'link', 'owned', 'setgid-dir', 'setuid', 'sticky']);
  const uid = process.getuid!();
  for (const f of ['setuid', 'setgid-dir', 'setgid-dir/f', 'sticky', 'owned', 'link']) {
    const st = lstatSync(path.join(worktree, f));
    expect([f, st.mode & 0o7000, st.uid]).toEqual([f, 0, uid]);
  }
  expect(statSync(path.join(worktree, 'setuid')).mode & 0o111).not.toBe(0); // still executable, as the agent left it
  expect(readFileSync(path.join(worktree, 'owned'), 'utf8')).toBe('owned by someone else');
  expect(readlinkSync(path.join(worktree, 'link'))).toBe('setuid');
  // the pod's .git comes back as data (the workspace is the agent's own repository; the host runs no git in it)
  expect(readFileSync(path.join(worktree, '.git'), 'utf8')).toBe('gitdir: /elsewhere\n');
  expectNothingOutside();
});

describe('nothing lands outside the worktree', () => {
  const attempts: [string, () => Entry[]][] = [
    [
      'a ../ name',
      () => [
        { name: '../escaped.txt', data: 'x' },
        { name: './ok.txt', data: 'ok' },
      ],
    ],
    ['a deeper ../ name', () => [{ name: './a/../../../outside/escaped.txt', data: 'x' }]],
    ['an absolute name', () => [{ name: path.join(outside, 'abs.txt'), data: 'x' }]],
    [
      'a symlink to an outside folder, then a file through it',
      () => [
        { name: './link', type: '2', linkname: outside },
        { name: './link/pwned.txt', data: 'x' },
      ],
    ],
    [
      'a relative symlink up, then a file through it',
      () => [
        { name: './up', type: '2', linkname: '../../outside' },
        { name: './up/pwned.txt', data: 'x' },
      ],
    ],
    [
      'a symlink to an outside file, then the file written',
      () => [
        { name: './s', type: '2', linkname: secret() },
        { name: './s', data: 'pwned' },
      ],
    ],
    [
      'a hard link to an outside file (absolute), then written',
      () => [
        { name: './h', type: '1', linkname: secret() },
        { name: './h', data: 'pwned' },
      ],
    ],
    ['a hard link to an outside file (relative)', () => [{ name: './h', type: '1', linkname: '../../outside/secret.txt' }]],
  ];
  test.each(attempts)('%s', async (_what, entries) => {
    // refusing the archive (tar's errors fail the copy) or defusing it are both fine; escaping is not
    await copy(entries()).catch(() => undefined);
    expectNothingOutside();
    // whatever is in the worktree is no link to the secret
    for (const f of ls(worktree)) {
      const st = lstatSync(path.join(worktree, f));
      expect(st.ino).not.toBe(statSync(secret()).ino);
      if (st.isFile() && f !== '.git') expect(readFileSync(path.join(worktree, f), 'utf8')).not.toContain('secret');
    }
  });
});

test('confineExtracted refuses a hard link to a file outside the folder, whatever tar did', async () => {
  const root = path.join(base, 'extracted');
  mkdirSync(root);
  writeFileSync(path.join(root, 'a'), 'a');
  linkSync(path.join(root, 'a'), path.join(root, 'b')); // two links, both inside: fine
  await confineExtracted(root);
  linkSync(secret(), path.join(root, 'stolen'));
  await expect(confineExtracted(root)).rejects.toThrow('copy-out refused: stolen is a hard link to a file outside the copied folder');
  expect(existsSync(secret())).toBe(true);
});

/** The pod: every command reads its input and exits 0; the connection then fails as `ending` says. */
function podClosing(ending: 'epipe-after-status' | 'epipe-without-status') {
  const exec = {
    exec: async (
      _ns: string,
      _pod: string,
      _c: string,
      _command: string[],
      _o: unknown,
      _e: unknown,
      stdin: Readable | null,
      _t: boolean,
      done: (s: { status: string }) => void,
    ) => {
      const ws = Object.assign(new EventEmitter(), { close: () => undefined });
      const end = () => {
        if (ending === 'epipe-after-status') done({ status: 'Success' });
        ws.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        ws.emit('close');
      };
      if (stdin) stdin.on('data', () => undefined).on('end', () => setImmediate(end));
      else setImmediate(end);
      return ws;
    },
  };
  return { exec: exec as never, namespace: 'ns', pod: 'pod' };
}

test('copy-in: a socket error after the exit status (the pod closed first) is no failure; one before it is', async () => {
  writeFileSync(path.join(worktree, 'file.txt'), 'in\n');
  const mounts = [{ volume: 'm0', source: worktree, target: '/workspace', readOnly: false }];
  await expect(copyIn(podClosing('epipe-after-status'), mounts)).resolves.toBeUndefined();
  await expect(copyIn(podClosing('epipe-without-status'), mounts)).rejects.toThrow('write EPIPE');
});
