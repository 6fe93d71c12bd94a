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
  return problems;
}
