// The command harness: a shell command in the agent's image, with the task in its environment.
// It is how tests and model-free pipelines run.
import { BASE_IMAGE } from '../images/constants';
import { HOME_FILES_MOUNT, renderPrompt, type Harness } from './harness';

export const commandHarness: Harness = {
  name: 'command',
  defaultImage: BASE_IMAGE,
  build(input) {
    return {
      image: input.agent.image ?? BASE_IMAGE,
      // the agent's `home` files are mounted read-only at HOME_FILES_MOUNT: copied into $HOME first
      command: ['sh', '-c', `${input.agent.home?.length ? `cp -a ${HOME_FILES_MOUNT}/. "$HOME"/; ` : ''}${input.agent.command ?? 'true'}`],
      env: {
        ...input.agent.env,
        AGENTVISOR_PROMPT: renderPrompt(input),
        AGENTVISOR_TASK: input.task.id,
        AGENTVISOR_AGENT: input.agent.name,
        AGENTVISOR_GRAPH: input.graphName,
      },
    };
  },
};
