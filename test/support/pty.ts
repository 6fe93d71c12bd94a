// The CLI in a real pseudo-terminal (node-pty), as a person runs it: a terminal of a given size, keys
// typed (Ctrl-C is the byte \x03: the terminal's line discipline turns it into SIGINT), and what the
// screen received.
import { spawn, type IPty } from '@lydell/node-pty';
import * as path from 'node:path';

const BIN = path.join(__dirname, '..', '..', 'bin', 'agentvisor.js');

export interface Terminal {
  /** everything written to the terminal so far, escape sequences included */
  output(): string;
  /** the output without escape sequences and carriage returns: the text a person read */
  text(): string;
  type(keys: string): void;
  /** resolves once the text matches (or throws after timeoutMs, with the text so far) */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number>;
  kill(): void;
}

export function plain(output: string): string {
  return output
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\x1b[\]PX^_][^\x07\x1b]*(\x07|\x1b\\)?/g, '')
    .replace(/\r/g, '');
}

export function cliInTerminal(args: string[], opts: { cols?: number; rows?: number; env?: NodeJS.ProcessEnv } = {}): Terminal {
  const term: IPty = spawn(process.execPath, [BIN, ...args], {
    name: 'xterm-256color',
    cols: opts.cols ?? 100,
    rows: opts.rows ?? 30,
    cwd: process.cwd(),
    env: { ...process.env, ...opts.env } as Record<string, string>,
  });
  let out = '';
  term.onData((d) => (out += d));
  const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    output: () => out,
    text: () => plain(out),
    type: (keys) => term.write(keys),
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(plain(out))) {
        if (Date.now() > deadline || done) {
          // output may still arrive with the exit
          await new Promise((r) => setTimeout(r, 200));
          if (pattern.test(plain(out))) return;
          throw new Error(`the terminal never showed ${pattern}${done ? ' (the CLI exited)' : ''}; it showed:\n${plain(out)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    exited,
    kill: () => {
      if (!done) term.kill('SIGKILL');
    },
  };
}
