// HTTP helpers the gateway's three jobs share: error answers in the caller's dialect, a request
// body read with a limit, and the keep-alive agents of upstream calls.
import type * as http from 'node:http';
import type * as https from 'node:https';
import type { ProviderKind } from './usage';

/**
 * How long the gateway keeps an idle client connection open, and says so in Keep-Alive: agents
 * call in bursts seconds apart, and Node's default of 5 s made them reconnect between calls.
 */
export const KEEP_ALIVE_MS = 60_000;

/** The keep-alive agents every upstream call goes through (closed with the gateway). */
export interface UpstreamAgents {
  http: http.Agent;
  https: https.Agent;
}

/** Who an error answer is for: a provider's CLI (its own error shape), the control side, or the proxy. */
export type ErrorKind = ProviderKind | 'control' | 'proxy';

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  402: 'FAILED_PRECONDITION',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'INVALID_ARGUMENT',
  407: 'UNAUTHENTICATED',
  410: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  502: 'UNAVAILABLE',
};

/** An error body in the shape the provider's own CLI reads, so it shows our message. */
export function errorBody(kind: ErrorKind, status: number, type: string, message: string): unknown {
  switch (kind) {
    case 'anthropic':
      return { type: 'error', error: { type, message } };
    case 'openai':
    case 'openai-compatible':
      return { error: { message, type, code: type, param: null } };
    case 'gemini':
      return { error: { code: status, message, status: STATUS_NAMES[status] ?? 'UNKNOWN' } };
    default:
      return { error: { type, message } };
  }
}

export function sendError(
  res: http.ServerResponse,
  kind: ErrorKind,
  status: number,
  type: string,
  message: string,
  headers: http.OutgoingHttpHeaders = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(kind, status, type, message));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    // The Anthropic and OpenAI SDKs honour this: no retry storm on a refusal.
    'x-should-retry': 'false',
    'x-agentvisor-error': type,
    ...headers,
  });
  res.end(body);
}

export function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
