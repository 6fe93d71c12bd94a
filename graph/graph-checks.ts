// Checks a graph's structure beyond its schema: names that must refer to something, ids that
// become branch and file names, and the dependency order (no cycles).
import { PROVIDERS, type GraphFile } from './schema';
import type { Problem } from './problems';
import { checkCoordination } from './coordination-checks';
import { checkPlacements } from './placement';

import { SAFE_ID, findCycle } from './dag';

export { SAFE_ID, findCycle, topologicalOrder } from './dag';

export function checkGraph(graph: GraphFile): Problem[] {
  const problems: Problem[] = [];
  const ids = new Map<string, number>();

  graph.tasks.forEach((task, i) => {
    if (!SAFE_ID.test(task.id)) {
      problems.push({
        path: `tasks.${i}.id`,
        message: `task id "${task.id}" is not a safe branch/file name (use letters, digits, - and _; at most 63; start with a letter or digit)`,
      });
    }
    if (ids.has(task.id)) {
      problems.push({ path: `tasks.${i}.id`, message: `duplicate task id "${task.id}" (first at tasks.${ids.get(task.id)})` });
    } else {
      ids.set(task.id, i);
    }
    if (!(task.agent in graph.agents)) {
      const known = Object.keys(graph.agents).join(', ');
      problems.push({ path: `tasks.${i}.agent`, message: `unknown agent "${task.agent}" (agents: ${known})` });
    }
  });

  graph.tasks.forEach((task, i) => {
    task.after.forEach((dep, j) => {
      if (dep === task.id) problems.push({ path: `tasks.${i}.after.${j}`, message: `task "${task.id}" depends on itself` });
      else if (!ids.has(dep)) problems.push({ path: `tasks.${i}.after.${j}`, message: `unknown dependency "${dep}" of task "${task.id}"` });
    });
  });

  for (const [name, agent] of Object.entries(graph.agents)) {
    for (const provider of Object.keys(agent.credentials)) {
      if (!(PROVIDERS as readonly string[]).includes(provider)) {
        problems.push({
          path: `agents.${name}.credentials.${provider}`,
          message: `unknown provider "${provider}" (providers: ${PROVIDERS.join(', ')})`,
        });
      }
    }
    if (agent.harness === 'command' && !agent.command) {
      problems.push({ path: `agents.${name}.command`, message: `agent "${name}" uses the command harness but has no command` });
    }
  }

  const cycle = findCycle(graph.tasks);
  if (cycle) {
    const i = ids.get(cycle[0]) ?? 0;
    problems.push({ path: `tasks.${i}.after`, message: `dependency cycle: ${cycle.join(' -> ')}` });
  }
  problems.push(...checkPlacements(graph));
  problems.push(...checkCoordination(graph));
  return problems;
}
