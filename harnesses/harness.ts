// One interface per agent kind: how to run one headless task of that agent in a container.
import type { AgentSpec, TaskSpec } from '../spec/types';

export interface HarnessInput {
  graphName: string;
  agent: AgentSpec;
  task: TaskSpec;
}

export interface HarnessInvocation {
  image: string;
  command: string[];
  env: Record<string, string>;
}

export interface Harness {
  readonly name: string;
  readonly defaultImage: string;
  build(input: HarnessInput): HarnessInvocation;
}

/** The task prompt inside the agent's template; {{prompt}}, {{task}}, {{agent}}, {{graph}}. */
export function renderPrompt({ graphName, agent, task }: HarnessInput): string {
  if (!agent.promptTemplate) return task.prompt;
  const values: Record<string, string> = { prompt: task.prompt, task: task.id, agent: agent.name, graph: graphName };
  return agent.promptTemplate.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key: string) => values[key] ?? whole);
}
