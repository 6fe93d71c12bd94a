// Token usage from model responses, per provider format, streamed (SSE) or not, and its price.
//
// Normalized counts (what budgets and the usage API add up):
//   inputTokens       input tokens that were neither read from nor written to a cache
//   cachedTokens      input tokens read from a cache
//   cacheWriteTokens  input tokens written to a cache (Anthropic's cache_creation_input_tokens)
//   outputTokens      output tokens, reasoning/thinking included
// A token budget counts all four.
//
// Formats:
//   Anthropic Messages   stream: message_start.message.usage, then message_delta.usage (cumulative:
//                        its fields replace the earlier ones); non-stream: body.usage
//   OpenAI Responses     stream: response.completed (or .incomplete/.failed) → response.usage;
//                        non-stream: body.usage {input_tokens, output_tokens, input_tokens_details}
//   OpenAI Chat          stream: the last chunk's usage (stream_options.include_usage);
//                        non-stream: body.usage {prompt_tokens, completion_tokens, ...}
//   Gemini               usageMetadata in every chunk (cumulative: the last one wins); non-stream:
//                        body.usageMetadata, or a JSON array of chunks (streamGenerateContent
//                        without alt=sse)
import type { Price } from './prices';
import { parseSse } from './sse';

export type ProviderKind = 'anthropic' | 'openai' | 'gemini' | 'openai-compatible';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
}

export interface MeteredUsage extends Usage {
  /** The model the response names, if any (preferred over the request's for pricing). */
  model?: string;
}

export const ZERO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0, cachedTokens: 0, cacheWriteTokens: 0 });

export function totalTokens(u: Usage): number {
  return u.inputTokens + u.cachedTokens + u.cacheWriteTokens + u.outputTokens;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

function anthropicUsage(u: Obj): Usage {
  return {
    inputTokens: num(u.input_tokens),
    cachedTokens: num(u.cache_read_input_tokens),
    cacheWriteTokens: num(u.cache_creation_input_tokens),
    outputTokens: num(u.output_tokens),
  };
}

/** Responses API (input_tokens) or Chat Completions (prompt_tokens); cached tokens are part of input. */
function openaiUsage(u: Obj): Usage {
  if ('input_tokens' in u || 'output_tokens' in u) {
    const details = isObj(u.input_tokens_details) ? u.input_tokens_details : {};
    const cached = num(details.cached_tokens);
    return {
      inputTokens: Math.max(0, num(u.input_tokens) - cached),
      cachedTokens: cached,
      cacheWriteTokens: 0,
      outputTokens: num(u.output_tokens),
    };
  }
  const details = isObj(u.prompt_tokens_details) ? u.prompt_tokens_details : {};
  const cached = num(details.cached_tokens);
  return {
    inputTokens: Math.max(0, num(u.prompt_tokens) - cached),
    cachedTokens: cached,
    cacheWriteTokens: 0,
    outputTokens: num(u.completion_tokens),
  };
}

function geminiUsage(u: Obj): Usage {
  const cached = num(u.cachedContentTokenCount);
  return {
    inputTokens: Math.max(0, num(u.promptTokenCount) + num(u.toolUsePromptTokenCount) - cached),
    cachedTokens: cached,
    cacheWriteTokens: 0,
    outputTokens: num(u.candidatesTokenCount) + num(u.thoughtsTokenCount),
  };
}

/**
 * Collects usage from one response: feed it every SSE event's data (`event`) or the whole JSON
 * body (`body`), then read `result()`. Unknown shapes are ignored, never fatal.
 */
export class UsageExtractor {
  private usage?: Usage;
  private model?: string;
  constructor(private readonly kind: ProviderKind) {}

  /** One SSE event's data (JSON text; non-JSON such as `[DONE]` is skipped). */
  event(data: string): void {
    // Most events of a stream are text deltas that name neither usage nor a model: they are not
    // parsed (a JSON parse per streamed token was the meter's main cost). Every format's usage is
    // in a field named usage…, its model in one named model… (modelVersion for Gemini); a model
    // is read from every event that has usage, and from the others until one is known.
    if (!data.includes('"usage') && (this.model !== undefined || !data.includes('"model'))) return;
    let v: unknown;
    try {
      v = JSON.parse(data);
    } catch {
      return;
    }
    this.object(v);
  }

  /** A whole non-streamed body (JSON text). */
  body(text: string): void {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return;
    }
    if (Array.isArray(v)) for (const item of v) this.object(item);
    else this.object(v);
  }

  result(): MeteredUsage | undefined {
    return this.usage ? { ...this.usage, ...(this.model ? { model: this.model } : {}) } : undefined;
  }

  private object(v: unknown): void {
    if (!isObj(v)) return;
    if (this.kind === 'anthropic') this.anthropic(v);
    else if (this.kind === 'gemini') this.gemini(v);
    else this.openai(v);
  }

  private anthropic(v: Obj): void {
    if (v.type === 'message_start' && isObj(v.message)) {
      this.model = str(v.message.model) ?? this.model;
      if (isObj(v.message.usage)) this.usage = anthropicUsage(v.message.usage);
    } else if (v.type === 'message_delta' && isObj(v.usage)) {
      // Cumulative counts: a field present here replaces the one from message_start.
      const prev = this.usage ?? ZERO_USAGE;
      const u = v.usage;
      this.usage = {
        inputTokens: 'input_tokens' in u ? num(u.input_tokens) : prev.inputTokens,
        cachedTokens: 'cache_read_input_tokens' in u ? num(u.cache_read_input_tokens) : prev.cachedTokens,
        cacheWriteTokens: 'cache_creation_input_tokens' in u ? num(u.cache_creation_input_tokens) : prev.cacheWriteTokens,
        outputTokens: 'output_tokens' in u ? num(u.output_tokens) : prev.outputTokens,
      };
    } else if (isObj(v.usage) && (v.type === 'message' || v.type === undefined)) {
      this.model = str(v.model) ?? this.model;
      this.usage = anthropicUsage(v.usage);
    }
  }

  private openai(v: Obj): void {
    if (typeof v.type === 'string' && v.type.startsWith('response.')) {
      // Responses API stream: the terminal event carries the whole response with its usage.
      if (isObj(v.response)) {
        this.model = str(v.response.model) ?? this.model;
        if (isObj(v.response.usage)) this.usage = openaiUsage(v.response.usage);
      }
      return;
    }
    // A non-streamed Responses object, a Chat Completions body or chunk.
    this.model = str(v.model) ?? this.model;
    if (isObj(v.usage)) this.usage = openaiUsage(v.usage);
  }

  private gemini(v: Obj): void {
    this.model = str(v.modelVersion) ?? this.model;
    if (isObj(v.usageMetadata)) this.usage = geminiUsage(v.usageMetadata);
  }
}

/** Usage of a whole response, given its content type and body text. */
export function usageFromResponse(kind: ProviderKind, contentType: string | undefined, body: string): MeteredUsage | undefined {
  const x = new UsageExtractor(kind);
  if (/text\/event-stream/i.test(contentType ?? '')) {
    for (const e of parseSse(body)) x.event(e.data);
  } else x.body(body);
  return x.result();
}

/**
 * The price entry for a model: exact name, then the longest key that prefixes it up to a "-"
 * ("claude-sonnet-4-5" prices "claude-sonnet-4-5-20250929", but "gpt-5" does not price
 * "gpt-5.4-nano": another model, which stays unpriced rather than wrongly priced).
 */
export function findPrice(prices: Record<string, Price>, model: string | undefined): Price | undefined {
  if (!model) return undefined;
  const name = model.replace(/^models\//, '').toLowerCase();
  const exact = Object.keys(prices).find((k) => k.toLowerCase() === name);
  if (exact) return prices[exact];
  let best: string | undefined;
  for (const k of Object.keys(prices)) {
    if (name.startsWith(`${k.toLowerCase()}-`) && (!best || k.length > best.length)) best = k;
  }
  return best ? prices[best] : undefined;
}

export function priceUsage(u: Usage, p: Price): number {
  return (
    (u.inputTokens * p.inputPerMTok +
      u.outputTokens * p.outputPerMTok +
      u.cachedTokens * (p.cacheReadPerMTok ?? p.inputPerMTok) +
      u.cacheWriteTokens * (p.cacheWritePerMTok ?? p.inputPerMTok)) /
    1_000_000
  );
}
