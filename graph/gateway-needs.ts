import type { AgentSpec, GraphSpec, TaskSpec } from './types';

/** An agent that calls a model provider or may reach another host: it needs its run's gateway. */
export function agentNeedsGateway(a: AgentSpec): boolean {
  // allowHosts is absent from graphs of runs started before it existed
  return Object.keys(a.credentials).length > 0 || (a.allowHosts ?? []).length > 0 || a.harness !== 'command';
}

/** A run gets a gateway when some agent needs it. */
export function needsGateway(graph: GraphSpec): boolean {
  return Object.values(graph.agents).some(agentNeedsGateway);
}

/**
 * What a gateway's configuration is made from: the tasks, their agents' credential references,
 * allowed hosts and budgets, the gateway settings and the run's budget. A run with a remote hands
 * this to every task, whose host starts its own gateway from it (no prompts, no home files).
 */
export interface GatewayGraph {
  tasks: Pick<TaskSpec, 'id' | 'agent'>[];
  agents: Record<string, Pick<AgentSpec, 'credentials' | 'allowHosts' | 'budget'>>;
  gateway?: GraphSpec['gateway'];
  budget?: GraphSpec['budget'];
}

export function gatewayGraph(graph: GraphSpec): GatewayGraph {
  const agents: GatewayGraph['agents'] = {};
  for (const [name, a] of Object.entries(graph.agents)) {
    agents[name] = { credentials: a.credentials, allowHosts: a.allowHosts, ...(a.budget ? { budget: a.budget } : {}) };
  }
  return {
    tasks: graph.tasks.map((t) => ({ id: t.id, agent: t.agent })),
    agents,
    ...(graph.gateway ? { gateway: graph.gateway } : {}),
    ...(graph.budget ? { budget: graph.budget } : {}),
  };
}
