// agentvisor completion: the shell completion script for bash, zsh or fish.
import { Argument, type Command } from 'commander';
import { completionScript, SHELLS, type Shell } from '../completion';
import { action, ExitCode } from './shared';

export function registerCompletionCommand(program: Command): void {
  program
    .command('completion')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .description('print the shell completion script (bash: eval "$(agentvisor completion bash)")')
    .action(
      action(async (shell: Shell) => {
        process.stdout.write(completionScript(program, shell));
        return ExitCode.success;
      }),
    );
}
