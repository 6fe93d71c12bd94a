// How log lines look: JSON lines (pino's own, for machines and log collectors) or one short line per
// record for a person at a terminal. The human form is made from the JSON line after redaction, so
// it can show nothing the JSON would not. It leaves out the SDK's bookkeeping fields and the
// stacks (DEBUG and TRACE keep them): an agent's failure is one line, not a screen of frames.
import type { DestinationStream } from 'pino';
import { terminalText } from '../contract/text-safety';

export type LogFormat = 'json' | 'human';

export const LOG_FORMATS: readonly LogFormat[] = ['json', 'human'];

/** `human` on a terminal, `json` when piped or redirected (collectors read JSON lines). */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stderr): LogFormat {
  return stream.isTTY ? 'human' : 'json';
}

const LEVEL_NAME: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** The fields that say what a line is about, in the order shown; the rest is left to the JSON form. */
const CONTEXT_FIELDS = ['workflowType', 'workflowId', 'activityType', 'attempt', 'taskId', 'runId'] as const;
/** Fields pino and the SDK add to every line: not worth a person's attention. */
const HIDDEN_FIELDS = new Set<string>([
  'level',
  'time',
  'msg',
  'pid',
  'hostname',
  'component',
  'sdkComponent',
  'taskQueue',
  'namespace',
  'taskToken',
  'workflowRunId',
  'activityId',
  'isLocal',
  'error',
  'err',
  'failure',
  ...CONTEXT_FIELDS,
]);

interface ErrorField {
  type?: string;
  message?: string;
  stack?: string;
}

/** One JSON log line (as createLogger writes it) as a line for people. */
export function humanLine(json: string, opts: { stacks?: boolean } = {}): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return terminalText(json);
  }
  const time = new Date(typeof record.time === 'number' ? record.time : Date.now()).toTimeString().slice(0, 8);
  const level = (LEVEL_NAME[record.level as number] ?? 'INFO').padEnd(5);
  const context = CONTEXT_FIELDS.filter((k) => record[k] !== undefined && record[k] !== '')
    .map((k) => `${k}=${String(record[k])}`)
    .join(' ');
  const extra = Object.entries(record)
    .filter(([k, v]) => !HIDDEN_FIELDS.has(k) && v !== undefined && (typeof v !== 'object' || v === null))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  const error = (record.error ?? record.err ?? record.failure) as ErrorField | string | undefined;
  const errorText = typeof error === 'string' ? error : error?.message;
  let line = `${time} ${level} ${String(record.msg ?? '')}`;
  if (errorText) line += `: ${errorText}`;
  if (context || extra) line += `  (${[context, extra].filter(Boolean).join(' ')})`;
  line = terminalText(line);
  const stack = typeof error === 'object' ? error?.stack : undefined;
  if (opts.stacks && stack) line += '\n' + terminalText(stack, { multiline: true }).replace(/^/gm, '    ');
  return line;
}

/** A pino destination writing the human form of each line to `out`. */
export function humanDestination(out: NodeJS.WritableStream, opts: { stacks?: boolean } = {}): DestinationStream {
  return {
    write(chunk: string) {
      for (const json of chunk.split('\n')) if (json.trim()) out.write(humanLine(json, opts) + '\n');
    },
  };
}
