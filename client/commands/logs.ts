// agentvisor logs: what the agents of a run printed, from its artifact folder; --follow while it goes on.
import type { Command } from 'commander';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { BadInputError, connect, loadConfig } from '../api';
import { runArtifactsDir } from '../../paths/data-folder';
import { action, ExitCode } from './shared';

export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .argument('<run>', 'run id')
    .argument('[task]', 'task id (default: every task and the evaluation)')
    .option('-f, --follow', 'keep printing while the run goes on')
    .description("print agents' output")
    .action(action(printLogs));
}

function readLogs(dir: string, task?: string): string[] {
  const logs = path.join(dir, 'logs');
  if (!existsSync(logs)) return [];
  const files = readdirSync(logs)
    .filter((f) => f.endsWith('.log'))
    .sort();
  return task ? files.filter((f) => f === `${task}.log`).map((f) => path.join(logs, f)) : files.map((f) => path.join(logs, f));
}

async function printLogs(runId: string, task: string | undefined, opts: { follow?: boolean }) {
  const cfg = loadConfig();
  const dir = runArtifactsDir(cfg.dataDir, runId);
  if (!existsSync(dir)) throw new BadInputError([{ message: `no artifacts for run "${runId}" in ${cfg.dataDir}/runs` }]);
  const offsets = new Map<string, number>();
  const printNew = () => {
    for (const file of readLogs(dir, task)) {
      const size = statSync(file).size;
      const from = offsets.get(file) ?? 0;
      if (size <= from) continue;
      const text = readFileSync(file).subarray(from, size).toString('utf8');
      offsets.set(file, size);
      const prefix = task ? '' : `[${path.basename(file, '.log')}] `;
      process.stdout.write(
        text
          .split('\n')
          .map((l, i, all) => (i === all.length - 1 && l === '' ? '' : prefix + l))
          .join('\n'),
      );
    }
  };
  printNew();
  if (!opts.follow) return ExitCode.success;
  const client = await connect(cfg, { startServer: false });
  try {
    for (;;) {
      const description = await client.workflow.getHandle(runId).describe();
      printNew();
      if (description.status.name !== 'RUNNING') return ExitCode.success;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await client.connection.close();
  }
}
