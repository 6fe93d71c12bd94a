// agentvisor hosts: the workers polling each task queue, by host, and what each host runs now.
import type { Command } from 'commander';
import { action, ExitCode, JSON_FLAG, withClient } from './shared';

export function registerHostsCommand(program: Command): void {
  program
    .command('hosts')
    .option(...JSON_FLAG)
    .description('list the workers polling each task queue, by host, and what each host runs now')
    .action(
      action((opts: { json?: boolean }) =>
        withClient(async (client) => {
          const { describeHosts, formatHosts } = await import('../hosts');
          const report = await describeHosts(client);
          console.log(opts.json ? JSON.stringify(report, null, 2) : formatHosts(report));
          return ExitCode.success;
        }),
      ),
    );
}
