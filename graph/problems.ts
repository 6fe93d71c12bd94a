/** One thing wrong with a graph, with its place in the file when it has one. */
export interface Problem {
  message: string;
  /** dotted path into the document, e.g. tasks.2.after.0 */
  path?: string;
  line?: number;
  column?: number;
}

export function formatProblem(file: string, p: Problem): string {
  const place = p.line ? `${file}:${p.line}:${p.column ?? 1}` : file;
  return `${place}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** Thrown for bad input; the CLI prints the problems and exits 2. */
export class BadInputError extends Error {
  constructor(
    readonly problems: Problem[],
    readonly file = '',
  ) {
    super(problems.map((p) => formatProblem(file || 'input', p)).join('\n'));
    this.name = 'BadInputError';
  }
}
