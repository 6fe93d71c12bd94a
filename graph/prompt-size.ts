// A task's prompt: its template filled in, and the sizes that can work. The prompt reaches the
// agent through a file (activities/run-agent.ts), so neither argv nor the environment bounds it;
// what does is Temporal: the graph travels in the run's input, and each task's prompt in its own
// inputs, and the server refuses a payload over 2 MiB (its default blob size limit).
import type { GraphFile } from './schema';
import type { Problem } from './problems';

/** One task's prompt, its template filled in. */
export const MAX_PROMPT_BYTES = 1024 * 1024;
/** All the graph's prompts together: they travel in one payload, the run's input, with the rest of the graph. */
export const MAX_PROMPTS_BYTES = 1536 * 1024;

/** The agent's template around the task's prompt: {{prompt}}, {{task}}, {{agent}} and {{graph}} are replaced. */
export function fillPromptTemplate(
  template: string | undefined,
  values: { prompt: string; task: string; agent: string; graph: string },
): string {
  if (!template) return values.prompt;
  const known: Record<string, string> = values;
  return template.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, key: string) => known[key] ?? whole);
}

const kib = (bytes: number) => `${Math.round(bytes / 1024)} KiB`;

/** Prompts too large to travel through Temporal, each with the limit. */
export function promptSizeProblems(graph: GraphFile): Problem[] {
  const problems: Problem[] = [];
  let total = 0;
  graph.tasks.forEach((task, i) => {
    const agent = graph.agents[task.agent];
    const prompt = fillPromptTemplate(agent?.promptTemplate, { prompt: task.prompt, task: task.id, agent: task.agent, graph: graph.name });
    const bytes = Buffer.byteLength(prompt);
    total += bytes;
    if (bytes > MAX_PROMPT_BYTES) {
      problems.push({
        path: `tasks.${i}.prompt`,
        message: `the prompt of task "${task.id}" is ${kib(bytes)}${agent?.promptTemplate ? " (with its agent's promptTemplate)" : ''}; at most ${kib(MAX_PROMPT_BYTES)} (prompts travel in the run's Temporal history)`,
      });
    }
  });
  if (total > MAX_PROMPTS_BYTES && problems.length === 0) {
    problems.push({
      path: 'tasks',
      message: `the prompts of the graph's tasks are ${kib(total)} together; at most ${kib(MAX_PROMPTS_BYTES)} (they travel together in the run's input)`,
    });
  }
  return problems;
}
