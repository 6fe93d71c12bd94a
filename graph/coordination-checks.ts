// Checks of the coordination settings (approval gates, shared workspace, proposals, conflict
// resolution) beyond their schema.
import type { GraphFile } from './schema';
import type { Problem } from './problems';

/** The name of the merge's approval gate (`agentvisor approve RUN merge`). */
export const MERGE_GATE = 'merge';

export function checkCoordination(graph: GraphFile): Problem[] {
  const problems: Problem[] = [];
  if (graph.merge.approval) {
    graph.tasks.forEach((task, i) => {
      if (task.id === MERGE_GATE) {
        problems.push({ path: `tasks.${i}.id`, message: `task id "${MERGE_GATE}" is taken by the merge's approval gate; rename the task` });
      }
    });
  }
  const { onConflict, resolver } = graph.merge;
  if (onConflict === 'resolve') {
    const agent = resolver === undefined ? undefined : graph.agents[resolver];
    if (resolver === undefined)
      problems.push({ path: 'merge.onConflict', message: 'onConflict: resolve needs a resolver agent (merge.resolver)' });
    else if (!agent)
      problems.push({ path: 'merge.resolver', message: `unknown agent "${resolver}" (agents: ${Object.keys(graph.agents).join(', ')})` });
    else if (agent.readOnly)
      problems.push({
        path: 'merge.resolver',
        message: `resolver agent "${resolver}" is read-only: it could not edit the conflicted files`,
      });
  } else if (resolver !== undefined) {
    problems.push({ path: 'merge.resolver', message: `merge.resolver is set but onConflict is ${onConflict} (use onConflict: resolve)` });
  }
  if (graph.proposals) {
    graph.proposals.from.forEach((name, i) => {
      const agent = graph.agents[name];
      if (!agent)
        problems.push({
          path: `proposals.from.${i}`,
          message: `unknown agent "${name}" (agents: ${Object.keys(graph.agents).join(', ')})`,
        });
      else if (agent.shared !== 'rw') {
        problems.push({
          path: `proposals.from.${i}`,
          message: `agent "${name}" may propose tasks but cannot write them: give it shared: rw (its drop folder is /shared/proposals)`,
        });
      }
    });
    graph.proposals.agents?.forEach((name, i) => {
      if (!graph.agents[name])
        problems.push({
          path: `proposals.agents.${i}`,
          message: `unknown agent "${name}" (agents: ${Object.keys(graph.agents).join(', ')})`,
        });
    });
  }
  return problems;
}
