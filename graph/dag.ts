// The task graph as a DAG: safe ids, cycles and a topological order. Pure and free of the schema
// library, so the workflow (which checks tasks added to a running run) can use it too.

/** Task ids become branch names and file names, so they stay within a safe alphabet. */
export const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

type Node = { id: string; after: string[] };

/** The first cycle found, as a closed path (a -> b -> a), or undefined. */
export function findCycle(tasks: Node[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.id, t.after]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];

  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done' || !deps.has(id)) return undefined;
    if (state.get(id) === 'visiting') return [...stack.slice(stack.indexOf(id)), id];
    state.set(id, 'visiting');
    stack.push(id);
    for (const dep of deps.get(id) ?? []) {
      if (dep === id) continue; // reported separately as a self-dependency
      const found = visit(dep);
      if (found) return found;
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const t of tasks) {
    const found = visit(t.id);
    if (found) return found.reverse(); // read in the direction work flows: dependency first
  }
  return undefined;
}

/** Tasks in an order where each comes after its dependencies; file order breaks ties. */
export function topologicalOrder<T extends Node>(tasks: T[]): T[] {
  const placed = new Set<string>();
  const ordered: T[] = [];
  while (ordered.length < tasks.length) {
    const next = tasks.find((t) => !placed.has(t.id) && t.after.every((d) => placed.has(d)));
    if (!next) throw new Error('graph has a cycle'); // checkGraph reports cycles before this runs
    placed.add(next.id);
    ordered.push(next);
  }
  return ordered;
}
