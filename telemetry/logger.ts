// Structured logs (pino, JSON lines) for the worker and the CLI, with secrets redacted: values under
// secret-looking keys, every value of an `env` map, the values of the process's own credential
// variables wherever they appear, and well-known token shapes. The same logger backs the Temporal
// Runtime, so the SDK's, the workflows' and the activities' logs go through the redaction too.
import pino, { type DestinationStream, type Logger as Pino } from 'pino';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { humanDestination, type LogFormat } from './log-format';

export const REDACTED = '[redacted]';

/** Keys whose values are secrets whatever they hold. */
const SECRET_KEY = /token|secret|passw(or)?d|api[-_]?key|authorization|credential|cookie|private[-_]?key|bearer/i;
/** Maps of environment variables: a container's env holds gateway tokens and proxy URLs with them. */
const ENV_KEY = /^(env|environment)$/i;
/** Environment variables of this process that hold credentials; their values are redacted anywhere. */
const SECRET_ENV_NAME = /token|secret|passw(or)?d|api[-_]?key|_key$|credential|auth/i;
/** Secrets recognisable by shape, for values that reach a log line without a telling key. */
const TOKEN_SHAPES = [
  /\bsk-[A-Za-z0-9_-]{12,}/g, // OpenAI / Anthropic style keys
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub tokens
  /\bAIza[0-9A-Za-z_-]{20,}/g, // Google API keys
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /(\/\/)[^/\s:@]+(:[^/\s@]*)?@/g, // credentials in URLs (http://token@host)
];

export interface RedactOptions {
  /** literal values to hide wherever they appear (default: credential-looking env values) */
  secrets?: string[];
}

export function secretValuesOf(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.entries(env)
    .filter(([name, value]) => SECRET_ENV_NAME.test(name) && typeof value === 'string' && value.length >= 8)
    .map(([, value]) => value as string);
}

export function redactString(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s && out.includes(s)) out = out.split(s).join(REDACTED);
  for (const shape of TOKEN_SHAPES) out = out.replace(shape, (m, p1) => (p1 === '//' ? `//${REDACTED}@` : REDACTED));
  return out;
}

/** A copy of `value` with secrets replaced; cycles and very deep values are cut short. */
export function redact(value: unknown, opts: RedactOptions = {}): unknown {
  const secrets = opts.secrets ?? secretValuesOf();
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redactString(v, secrets);
    if (v === null || typeof v !== 'object') return v;
    if (seen.has(v as object) || depth > 8) return '[…]';
    seen.add(v as object);
    if (v instanceof Error) {
      return { type: v.name, message: redactString(v.message, secrets), stack: v.stack && redactString(v.stack, secrets) };
    }
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (SECRET_KEY.test(k)) out[k] = REDACTED;
      else if (ENV_KEY.test(k) && x && typeof x === 'object') out[k] = Object.fromEntries(Object.keys(x).map((name) => [name, REDACTED]));
      else out[k] = walk(x, depth + 1);
    }
    return out;
  };
  return walk(value, 0);
}

const PINO_LEVEL: Record<LogLevel, pino.Level> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

export function logLevelFrom(value: string | undefined, fallback: LogLevel): LogLevel {
  const v = (value ?? '').toUpperCase();
  return v in PINO_LEVEL ? (v as LogLevel) : fallback;
}

export interface LoggerOptions extends RedactOptions {
  level?: LogLevel;
  /** `worker`, `cli`, …: the `component` field of every line */
  component: string;
  /** default: stderr (stdout stays for a command's output) */
  destination?: DestinationStream;
  /** write to this file (appended, its folder made) instead of stderr; always JSON lines */
  file?: string;
  /** on stderr: JSON lines (default) or one short line per record for people (telemetry/log-format.ts) */
  format?: LogFormat;
}

function destinationOf(opts: LoggerOptions): DestinationStream {
  if (opts.destination) return opts.destination;
  // synchronous: the CLI exits right after its last line
  if (opts.file) return pino.destination({ dest: opts.file, sync: true, mkdir: true, append: true });
  if (opts.format === 'human') return humanDestination(process.stderr, { stacks: opts.level === 'DEBUG' || opts.level === 'TRACE' });
  return pino.destination({ dest: 2, sync: true });
}

/** A pino logger whose every line (message and fields) passes through `redact`. */
export function createLogger(opts: LoggerOptions): Pino {
  const secrets = opts.secrets ?? secretValuesOf();
  return pino(
    {
      level: PINO_LEVEL[opts.level ?? 'INFO'],
      base: { component: opts.component, pid: process.pid },
      formatters: { log: (obj) => redact(obj, { secrets }) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          // the message (and printf-style arguments) are strings pino writes as they are
          method.apply(this, args.map((a) => (typeof a === 'string' ? redactString(a, secrets) : a)) as Parameters<typeof method>);
        },
      },
    },
    destinationOf(opts),
  );
}

/** The Temporal SDK's Logger interface on top of a pino logger (for Runtime.install). */
export class TemporalPinoLogger implements TemporalLogger {
  constructor(readonly pino: Pino) {}
  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    this.pino[PINO_LEVEL[level] ?? 'info'](meta ?? {}, message);
  }
  trace(message: string, meta?: LogMetadata) {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata) {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata) {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata) {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata) {
    this.log('ERROR', message, meta);
  }
}
