// agentvisor setup: register the search attributes runs are filtered by in the Temporal UI.
import type { Command } from 'commander';
import { action, ExitCode, printStderr, withClient } from './shared';

export function registerSetupCommand(program: Command): void {
  program
    .command('setup')
    .description("register agentvisor's search attributes on the Temporal namespace (for filtering runs in the UI)")
    .action(
      action(() =>
        withClient(async (client) => {
          const { registerSearchAttributes } = await import('../setup');
          const result = await registerSearchAttributes(client);
          if ('error' in result) {
            printStderr(`error: ${result.error}`);
            return ExitCode.failed;
          }
          console.log(
            `search attributes registered: ${result.registered.join(', ') || 'none needed'}; present: ${result.present.join(', ') || 'none'}`,
          );
          return ExitCode.success;
        }),
      ),
    );
}
