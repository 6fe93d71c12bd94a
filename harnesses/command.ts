// The command harness: a shell command in the agent's image, with the task in its environment.
// It is how tests and model-free pipelines run.
import { BASE_IMAGE } from '../images/constants';
import { HOME_FILES_MOUNT, PROMPT_FILE, renderPrompt, type Harness } from './harness';

/**
 * Up to this size the prompt is also in AGENTVISOR_PROMPT (a variable is at most 128 KiB on Linux,
 * and the whole environment shares the limit of argv); the file always has it.
 */
export const PROMPT_ENV_MAX_BYTES = 32 * 1024;

export const commandHarness: Harness = {
  name: 'command',
  defaultImage: BASE_IMAGE,
  build(input) {
    const prompt = renderPrompt(input);
    return {
      image: input.agent.image ?? BASE_IMAGE,
      // the agent's `home` files are mounted read-only at HOME_FILES_MOUNT: copied into $HOME first
      command: ['sh', '-c', `${input.agent.home?.length ? `cp -a ${HOME_FILES_MOUNT}/. "$HOME"/; ` : ''}${input.agent.command ?? 'true'}`],
      env: {
        ...input.agent.env,
        ...(Buffer.byteLength(prompt) <= PROMPT_ENV_MAX_BYTES ? { AGENTVISOR_PROMPT: prompt } : {}),
        AGENTVISOR_PROMPT_FILE: PROMPT_FILE,
        AGENTVISOR_TASK: input.task.id,
        AGENTVISOR_AGENT: input.agent.name,
        AGENTVISOR_GRAPH: input.graphName,
      },
    };
  },
};
