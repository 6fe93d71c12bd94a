// agentvisor images build: the agent images that are missing, the base one and the one with the agent CLIs.
import { Option, type Command } from 'commander';
import { action, ExitCode, printStderr } from './shared';

type ImagesBuildFlags = { mode: 'auto' | 'registry' | 'offline'; force?: boolean; agents: boolean };

export function registerImagesCommand(program: Command): void {
  const images = program.command('images').description('agent images');
  images
    .command('build')
    .addOption(new Option('--mode <mode>', 'where the base comes from').choices(['auto', 'registry', 'offline']).default('auto'))
    .option('--force', 'rebuild even if the image exists')
    .option('--no-agents', 'only the base image, not the one with the agent CLIs')
    .description('build the agent images that are missing: the base image and the one with the agent CLIs')
    .action(action(buildImages));
}

async function buildImages(opts: ImagesBuildFlags) {
  const { buildBaseImage, ensureAgentsImage, imageExists, BASE_IMAGE, AGENTS_IMAGE } = await import('../../images/build');
  const { default: Docker } = await import('dockerode');
  const docker = new Docker();
  if (!opts.force && (await imageExists(docker, BASE_IMAGE))) console.log(`${BASE_IMAGE} is present`);
  else console.log(`${BASE_IMAGE}: ${await buildBaseImage({ docker, mode: opts.mode, log: printStderr })}`);
  if (opts.agents) console.log(`${AGENTS_IMAGE}: ${await ensureAgentsImage(docker, printStderr, { force: opts.force })}`);
  return ExitCode.success;
}
