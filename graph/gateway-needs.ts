import type { GraphSpec } from './types';

/** A run gets a gateway when some agent calls a model provider or may reach another host. */
export function needsGateway(graph: GraphSpec): boolean {
  // allowHosts is absent from graphs of runs started before it existed
  return Object.values(graph.agents).some(
    (a) => Object.keys(a.credentials).length > 0 || (a.allowHosts ?? []).length > 0 || a.harness !== 'command',
  );
}
