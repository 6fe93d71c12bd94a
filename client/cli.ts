// The agentvisor command line: one file per command in commands/. Exit codes: 0 success, 1 the run
// failed, 2 bad input or usage.
import { Command, CommanderError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BadInputError, formatProblem } from '../graph/problems';
import { currentTracing } from '../telemetry/tracing';
import { registerAddCommand } from './commands/add';
import { registerApproveCommand } from './commands/approve';
import { registerCancelCommand } from './commands/cancel';
import { registerCheckoutCommand } from './commands/checkout';
import { registerCompletionCommand } from './commands/completion';
import { registerDiffCommand } from './commands/diff';
import { registerMergeCommand } from './commands/merge';
import { registerRmCommand } from './commands/rm';
import { registerExperimentCommand } from './commands/experiment';
import { registerGcCommand } from './commands/gc';
import { registerHostsCommand } from './commands/hosts';
import { registerImagesCommand } from './commands/images';
import { registerLogsCommand } from './commands/logs';
import { registerLsCommand } from './commands/ls';
import { registerRejectCommand } from './commands/reject';
import { registerReportCommand } from './commands/report';
import { registerResumeCommand } from './commands/resume';
import { registerRunCommand } from './commands/run';
import { registerServerCommand } from './commands/server';
import { registerSetupCommand } from './commands/setup';
import { CommandExit, ExitCode, printStderr } from './commands/shared';
import { registerStatusCommand } from './commands/status';
import { registerValidateCommand } from './commands/validate';
import { registerWorkerCommand } from './commands/worker';
import { COLOR_MODES, setColorMode, type ColorMode } from './colors';
import { buildId } from '../workers/version';

/** The package's version (package.json, beside dist/ or the sources) and the build id workers pin runs to. */
function versionText(): string {
  const file = [path.join(__dirname, '..', '..', 'package.json'), path.join(__dirname, '..', 'package.json')].find(existsSync);
  const version = file ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version : 'unknown';
  return `agentvisor ${version} (build ${buildId()})`;
}

export function buildProgram(): Command {
  const program = new Command('agentvisor')
    .description('Run task graphs of isolated AI coding agents on Temporal, Docker and git')
    .version(versionText(), '-V, --version', 'print the version and the build id')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .option('--otel-endpoint <url>', 'export OpenTelemetry traces to this OTLP/HTTP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT)')
    .addOption(
      new Option('--color <when>', 'colour the output: auto (a terminal, unless NO_COLOR is set), always or never')
        .choices(COLOR_MODES)
        .default('auto'),
    )
    // set before any command connects, and inherited by the workers a run starts
    .hook('preAction', () => {
      const { otelEndpoint, color } = program.opts<{ otelEndpoint?: string; color: ColorMode }>();
      if (otelEndpoint) process.env.OTEL_EXPORTER_OTLP_ENDPOINT = otelEndpoint;
      setColorMode(color);
    });
  // in the order `agentvisor --help` lists them
  registerRunCommand(program);
  registerResumeCommand(program);
  registerValidateCommand(program);
  registerExperimentCommand(program);
  registerStatusCommand(program);
  registerReportCommand(program);
  registerSetupCommand(program);
  registerLsCommand(program);
  registerLogsCommand(program);
  registerDiffCommand(program);
  registerCheckoutCommand(program);
  registerMergeCommand(program);
  registerRmCommand(program);
  registerCancelCommand(program);
  registerApproveCommand(program);
  registerRejectCommand(program);
  registerAddCommand(program);
  registerWorkerCommand(program);
  registerHostsCommand(program);
  registerServerCommand(program);
  registerGcCommand(program);
  registerImagesCommand(program);
  registerCompletionCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return ExitCode.success;
  } catch (e) {
    if (e instanceof CommandExit) return e.exitCode;
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.success : ExitCode.badInput;
    if (e instanceof BadInputError) {
      // a graph's problems name their file (and line); a command's own input needs no place
      for (const p of e.problems) printStderr(`error: ${e.file || p.path || p.line ? formatProblem(e.file || 'input', p) : p.message}`);
      return ExitCode.badInput;
    }
    printStderr(`error: ${(e as Error).message}`);
    // the stack, for AGENTVISOR_LOG_LEVEL=DEBUG (structured, secrets redacted; loaded only here)
    const { createLogger, logLevelFrom } = await import('../telemetry/logger');
    createLogger({ component: 'cli', level: logLevelFrom(process.env.AGENTVISOR_LOG_LEVEL, 'WARN') }).debug({ err: e }, 'command failed');
    return ExitCode.failed;
  } finally {
    // spans still buffered (the run's start, an in-process worker's) go out before the process exits
    await currentTracing()?.shutdown();
  }
}

if (require.main === module) {
  main(process.argv).then((code) => process.exit(code));
}
