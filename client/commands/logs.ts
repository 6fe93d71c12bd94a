// agentvisor logs: what the agents of a run printed, from its artifact folder; --follow while it goes on.
import type { Command } from 'commander';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { connect, getRunReport, loadConfig, resolveRunId, splitRunRef } from '../api';
import { runArtifactsDir } from '../../paths/data-folder';
import { reportPath, taskLogPath } from '../../paths/run-folder';
import type { RunReport } from '../../contract/run-types';
import type { ClientConfig } from '../config';
import { taskOf } from '../run-results';
import { action, ExitCode, printStderr } from './shared';

export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .argument('<run>', 'run id (or a unique prefix; RUN/TASK names a task)')
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

async function printLogs(ref: string, taskArg: string | undefined, opts: { follow?: boolean }) {
  const cfg = loadConfig();
  const split = splitRunRef(ref);
  const task = taskArg ?? split.task;
  // the logs are in the run's folder on this machine: that is where its id is looked up
  const runId = await resolveRunId(split.run, { dataDir: cfg.dataDir });
  const dir = runArtifactsDir(cfg.dataDir, runId);
  if (task && task !== 'evaluation' && !existsSync(taskLogPath(dir, task))) {
    // no output (yet) is fine for a task of the run; a task it does not have is bad input
    const report = await reportOf(cfg, runId);
    if (report) printStderr(`task ${taskOf(report, task).id} has no output yet (${taskOf(report, task).status})`);
  }
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

/** The run's report, from its folder or (still running) its server; undefined when neither answers. */
async function reportOf(cfg: ClientConfig, runId: string): Promise<RunReport | undefined> {
  const saved = reportPath(runArtifactsDir(cfg.dataDir, runId));
  if (existsSync(saved)) return JSON.parse(readFileSync(saved, 'utf8')) as RunReport;
  try {
    const client = await connect(cfg, { startServer: false });
    try {
      return await getRunReport(client, runId, cfg);
    } finally {
      await client.connection.close();
    }
  } catch {
    return undefined; // the server is not reachable or has no history of it: the logs are all there is to go by
  }
}
