// agentvisor validate: check a graph and its repository without running anything.
import type { Command } from 'commander';
import { BadInputError, validateGraphFile } from '../api';
import { action, ExitCode, JSON_FLAG } from './shared';

export function registerValidateCommand(program: Command): void {
  program
    .command('validate')
    .argument('<file>', 'task graph (YAML)')
    .option(...JSON_FLAG)
    .description('check a task graph and its repository without running anything')
    .action(
      action(async (file: string, opts: { json?: boolean }) => {
        const { graph, problems } = await validateGraphFile(file);
        if (problems.length) throw new BadInputError(problems, file);
        if (opts.json) console.log(JSON.stringify({ file, ok: true, graph: graph?.name, tasks: graph?.tasks.map((t) => t.id) }));
        else console.log(`${file}: ok`);
        return ExitCode.success;
      }),
    );
}
