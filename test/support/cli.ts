// The CLI as a user runs it (dist/ must be built), with this test's server and data folder.
import { execFile } from 'node:child_process';
import * as path from 'node:path';

const BIN = path.join(__dirname, '..', '..', 'bin', 'agentvisor.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** added to this process's environment */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** killed after (default 2 minutes: an experiment takes longer) */
  timeoutMs?: number;
}

export function cli(...args: string[]): Promise<CliResult> {
  return cliWith({}, ...args);
}

export function cliWith(opts: CliOptions, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...opts.env }, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}
