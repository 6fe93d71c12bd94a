// What the gateway reads of a model call's request: the model it names and whether it streams.
// Request bodies carry an agent's whole context (often hundreds of KiB), so looking at them is the
// costliest part of a call: the body is parsed once, here, and never again on the request path.
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ModelRequest {
  /** The JSON body's `model`, or Gemini's `models/<model>:verb` path. */
  model?: string;
  /** `"stream": true` in the body, or Gemini's streamGenerateContent. */
  stream: boolean;
}

/** Reads a model request: `path` is the provider-side path, `body` the raw request body. */
export function readModelRequest(path: string, body: Buffer | undefined): ModelRequest {
  let v: unknown;
  if (body && body.length) {
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch {
      /* not JSON */
    }
  }
  const fromBody = isObj(v) && typeof v.model === 'string' && v.model ? v.model : undefined;
  const m = fromBody ? undefined : /\/models\/([^/:?]+)(?::|$|\?)/.exec(path);
  return {
    model: fromBody ?? (m ? decodeURIComponent(m[1]) : undefined),
    stream: (isObj(v) && v.stream === true) || /:streamGenerateContent\b/.test(path),
  };
}
