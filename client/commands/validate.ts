// agentvisor validate: check a graph and its repository without running anything.
import type { Command } from 'commander';
import { BadInputError, validateGraphFile } from '../api';
import { action, ExitCode } from './shared';

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .argument('<file>', 'task graph (YAML)')
    .description('check a task graph and its repository without running anything')
    .action(
      action(async (file: string) => {
        const { problems } = await validateGraphFile(file);
        if (problems.length) throw new BadInputError(problems, file);
        console.log(`${file}: ok`);
        return ExitCode.success;
      }),
    );
}
