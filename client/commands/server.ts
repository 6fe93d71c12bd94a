// agentvisor server: a local Temporal dev server with its Web UI, its state in the data folder.
import { InvalidArgumentError, type Command } from 'commander';
import { loadConfig } from '../api';
import { retentionHours, runDevServer } from '../dev-server';
import { action, tcpPort } from './shared';

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .option('--port <port>', 'gRPC port', tcpPort, 7233)
    .option('--ui-port <port>', 'Web UI port', tcpPort, 8233)
    .option(
      '--retention <duration>',
      'how long closed runs stay in Temporal (e.g. 30d, 720h)',
      retention,
      process.env.AGENTVISOR_RETENTION ?? '30d',
    )
    .description('run the Temporal dev server with its Web UI; state in ~/.agentvisor/temporal.db')
    .action(
      action(async (opts: { port: number; uiPort: number; retention: string }) => {
        const cfg = loadConfig();
        return runDevServer({ dataDir: cfg.dataDir, port: opts.port, uiPort: opts.uiPort, retention: opts.retention });
      }),
    );
}

/** --retention checked before anything starts (dev-server.ts reads it the same way). */
function retention(value: string): string {
  try {
    retentionHours(value);
    return value;
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
}
