// A file of tasks to add to a running run (`agentvisor add RUN FILE`, or an agent's proposal in the
// shared workspace's drop folder): `tasks: [...]`, a list of tasks, or one task, each written as in a
// graph file. Problems come with their line and column; whether the tasks fit the run (agents,
// dependencies, cycles) is for the run to say.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { resolveTask } from './load';
import { taskSchema } from './schema';
import { BadInputError, type Problem } from './problems';
import type { TaskSpec } from './types';
import { parseYamlWithPlaces, placeOf, placeOfKey } from './yaml-places';

const taskList = z.array(taskSchema).min(1, { message: 'no tasks' });

export function parseTasksText(text: string, opts: { defaultAfter?: string[] } = {}): { tasks?: TaskSpec[]; problems: Problem[] } {
  const { doc, at, syntaxProblem } = parseYamlWithPlaces(text);
  if (syntaxProblem) return { problems: [syntaxProblem] };

  const js: unknown = doc.toJS();
  let list: unknown;
  let place: (index: number) => (string | number)[];
  if (Array.isArray(js)) {
    list = js;
    place = (i) => [i];
  } else if (js && typeof js === 'object' && Object.keys(js).length === 1 && 'tasks' in js) {
    list = (js as { tasks: unknown }).tasks;
    place = (i) => ['tasks', i];
  } else if (js && typeof js === 'object') {
    list = [js];
    place = () => [];
  } else {
    return { problems: [{ message: 'expected a task, a list of tasks, or tasks: [...]' }] };
  }

  const parsed = taskList.safeParse(list);
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.map((issue) => {
        const [first, ...rest] = issue.path;
        // an item's problem is placed at the item; a problem of the whole list (empty) at the list
        const p = (typeof first === 'number' ? [...place(first), ...rest] : place(0).slice(0, -1)).map((k) =>
          typeof k === 'number' ? k : String(k),
        );
        const key = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
        const message = key ? `unknown key "${key}"` : issue.message;
        const dotted = [...p, ...(key ? [key] : [])].map(String).join('.');
        const where = (key && placeOfKey(doc, p, key, at)) || placeOf(doc, p, at);
        return { message, path: dotted || undefined, ...where };
      }),
    };
  }
  const raw = list as { after?: unknown }[];
  const tasks = parsed.data.map((t, i) =>
    resolveTask(raw[i].after === undefined && opts.defaultAfter ? { ...t, after: opts.defaultAfter } : t),
  );
  return { tasks, problems: [] };
}

/** Reads and parses a tasks file, or throws BadInputError naming every problem. */
export function loadTasksFileOrThrow(file: string): TaskSpec[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new BadInputError([{ message: `cannot read tasks file: ${(err as NodeJS.ErrnoException).code ?? err}` }], file);
  }
  const { tasks, problems } = parseTasksText(text);
  if (!tasks) throw new BadInputError(problems, file);
  return tasks;
}
