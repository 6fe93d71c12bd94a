// agentvisor server: a local Temporal dev server with its Web UI, its state in the data folder.
import type { Command } from 'commander';
import { loadConfig } from '../api';
import { runDevServer } from '../dev-server';
import { action } from './shared';

export function registerServerCommand(program: Command): void {
  program
    .command('server')
    .option('--port <port>', 'gRPC port', '7233')
    .option('--ui-port <port>', 'Web UI port', '8233')
    .option('--retention <duration>', 'how long closed runs stay in Temporal (e.g. 30d, 720h)', process.env.AGENTVISOR_RETENTION ?? '30d')
    .description('run the Temporal dev server with its Web UI; state in ~/.agentvisor/temporal.db')
    .action(
      action(async (opts: { port: string; uiPort: string; retention: string }) => {
        const cfg = loadConfig();
        return runDevServer({ dataDir: cfg.dataDir, port: Number(opts.port), uiPort: Number(opts.uiPort), retention: opts.retention });
      }),
    );
}
