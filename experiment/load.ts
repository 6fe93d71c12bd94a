// Reads an experiment file: YAML → schema → checks → one graph per cell run. Every problem comes
// with its line and column; nothing is created, nothing outside the files named is read.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Problem } from '../graph/problems';
import { parseDuration } from '../graph/units';
import { parseYamlWithPlaces, placeOf, placeOfKey } from '../graph/yaml-places';
import { experimentSchema, type ExperimentFile } from './schema';
import { armProblems, expandCells, resolveArms, type CellPlan } from './arms';

export interface Experiment {
  file: string;
  name: string;
  spec: ExperimentFile;
  /** the per-cell wall-time budget */
  wallTimeMs?: number;
  cells: CellPlan[];
}

/** --record DIR / --replay DIR: every cell run's model traffic, one cassette folder per run under DIR. */
export interface TrafficOption {
  mode: 'record' | 'replay';
  dir: string;
}

export function loadExperimentFile(
  file: string,
  experimentId: string,
  traffic?: TrafficOption,
): { experiment?: Experiment; problems: Problem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { problems: [{ message: `cannot read experiment file: ${(err as NodeJS.ErrnoException).code ?? err}` }] };
  }
  const baseDir = path.dirname(path.resolve(file));
  const { doc, at, syntaxProblem } = parseYamlWithPlaces(text);
  if (syntaxProblem) return { problems: [syntaxProblem] };
  const place = (p: string) => (p ? placeOf(doc, p.split('.'), at) : {});
  const parsed = experimentSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.flatMap((issue) => {
        const p = issue.path.map(String);
        if (issue.code === 'unrecognized_keys') {
          return issue.keys.map((key) => ({
            message: `unknown key "${key}"`,
            path: [...p, key].join('.'),
            ...(placeOfKey(doc, p, key, at) ?? placeOf(doc, [...p, key], at)),
          }));
        }
        return [{ message: issue.message, path: p.join('.') || undefined, ...placeOf(doc, p, at) }];
      }),
    };
  }
  const spec = parsed.data;
  const arms = resolveArms(spec, baseDir);
  const problems = [...checkExperiment(spec), ...armProblems(spec, arms)].map((p) => ({ ...p, ...place(p.path ?? '') }));
  if (problems.length) return { problems };
  const { cells, problems: cellProblems } = expandCells(
    spec,
    arms,
    baseDir,
    experimentId,
    (doc.toJS() as { agents?: Record<string, unknown> }).agents ?? {},
    traffic,
  );
  if (cellProblems.length) return { problems: cellProblems };
  const wallTime = spec.budget?.wallTime;
  return {
    experiment: {
      file: path.resolve(file),
      name: spec.name,
      spec,
      wallTimeMs: wallTime === undefined ? undefined : parseDuration(wallTime),
      cells,
    },
    problems: [],
  };
}

/** What the schema cannot say: evaluations, names, and a budget that can be met. */
function checkExperiment(spec: ExperimentFile): Problem[] {
  const problems: Problem[] = [];
  const names = new Map<string, number>();
  spec.subjects.forEach((s, i) => {
    if (!s.evaluate) {
      problems.push({
        path: `subjects.${i}`,
        message: `subject "${s.name}" has no evaluation: add evaluate: { command: ... } (cells are compared by it)`,
      });
    }
    if (names.has(s.name)) problems.push({ path: `subjects.${i}.name`, message: `duplicate subject name "${s.name}"` });
    names.set(s.name, i);
  });
  const b = spec.budget;
  if (b) {
    if (b.tokens !== undefined && b.tokens <= 0)
      problems.push({ path: 'budget.tokens', message: `a budget of ${b.tokens} tokens cannot be met` });
    if (b.usd !== undefined && b.usd <= 0) problems.push({ path: 'budget.usd', message: `a budget of $${b.usd} cannot be met` });
    if (b.wallTime !== undefined && (parseDuration(b.wallTime) ?? 0) <= 0) {
      problems.push({ path: 'budget.wallTime', message: `a wall time of ${b.wallTime} cannot be met` });
    }
    const models = Object.values(spec.agents).some((a) => a.harness !== 'command' || Object.keys(a.credentials).length > 0);
    if ((b.tokens !== undefined || b.usd !== undefined) && !models) {
      problems.push({
        path: b.tokens !== undefined ? 'budget.tokens' : 'budget.usd',
        message:
          'a token or dollar budget cannot be met or measured: no agent of this experiment calls a model through the gateway (use wallTime)',
      });
    }
  }
  return problems;
}
