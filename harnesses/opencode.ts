// OpenCode (`opencode`, opencode-ai), headless:
//   opencode run --format json --auto [-m provider/model] < prompt file
// `run` executes one message and exits (--print-logs --log-level ERROR: failed model calls on
// stderr, for `retrying`); ~/.config/opencode/opencode.json allows every tool
// (permission "*": "allow", and --auto approves anything not explicitly denied), so it never
// waits for approval. Output: JSON lines (step_start, text, tool_use, step_finish {tokens, cost},
// error). Cost comes from OpenCode's bundled model table (models.dev snapshot; fetching it is
// disabled) for the models it knows.
// Through the gateway: the config points the built-in providers at the gateway — openai →
// <gateway>/openai/v1, anthropic → <gateway>/anthropic/v1, google → <gateway>/gemini/v1beta — with
// the task token as their API key (read from AGENTVISOR_GATEWAY_TOKEN via "{env:…}"). The model is
// `provider/model`, e.g. openai/gpt-5-mini or anthropic/claude-sonnet-4-5.
// Standing instructions go to ~/.config/opencode/AGENTS.md (global rules).
import { AGENTS_IMAGE } from '../images/constants';
import {
  agentInstructions,
  failure,
  gatewayUrl,
  jsonLines,
  logTail,
  maxTurns,
  num,
  obj,
  parseJsonLine,
  shellEntry,
  short,
  type AgentResult,
  type Harness,
  type HarnessInput,
} from './harness';

export const OPENCODE_TOKEN_ENV = 'AGENTVISOR_GATEWAY_TOKEN';

export function opencodeConfig(input: HarnessInput): Record<string, unknown> {
  const config: Record<string, unknown> = {
    $schema: 'https://opencode.ai/config.json',
    autoupdate: false,
    share: 'disabled',
    permission: { '*': 'allow' },
    agent: { build: { steps: maxTurns(input.agent) } },
  };
  if (input.gateway) {
    const apiKey = `{env:${OPENCODE_TOKEN_ENV}}`;
    config.provider = {
      openai: { options: { baseURL: gatewayUrl(input.gateway, '/openai/v1'), apiKey } },
      anthropic: { options: { baseURL: gatewayUrl(input.gateway, '/anthropic/v1'), apiKey } },
      google: { options: { baseURL: gatewayUrl(input.gateway, '/gemini/v1beta'), apiKey } },
    };
  }
  if (input.agent.model) config.model = input.agent.model;
  return config;
}

export const opencodeHarness: Harness = {
  name: 'opencode',
  defaultImage: AGENTS_IMAGE,
  // opencode names models provider/model: openai/gpt-5-mini, anthropic/…, google/…
  provider: (agent) => {
    const prefix = (agent.model ?? 'openai/').split('/')[0];
    return prefix === 'anthropic' ? 'anthropic' : prefix === 'google' ? 'gemini' : 'openai';
  },

  build(input) {
    const { agent, gateway } = input;
    // --print-logs at ERROR: a failed model call is logged on stderr before each retry (see retrying)
    const args = ['run', '--format', 'json', '--auto', '--print-logs', '--log-level', 'ERROR'];
    if (agent.model) args.push('-m', agent.model);
    // the prompt: on stdin, from the task's prompt file (shellEntry)
    const env: Record<string, string> = {
      ...agent.env,
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_DEFAULT_PLUGINS: '1',
      OPENCODE_DISABLE_LSP_DOWNLOAD: '1',
      OPENCODE_DISABLE_SHARE: '1',
      OPENCODE_DISABLE_CLAUDE_CODE: '1',
      // OpenCode installs @opencode-ai/plugin in the background; point npm nowhere so it fails fast
      npm_config_registry: 'http://127.0.0.1:9/',
    };
    if (gateway) env[OPENCODE_TOKEN_ENV] = gateway.token;
    return {
      image: agent.image ?? AGENTS_IMAGE,
      command: shellEntry('opencode', args),
      env,
      files: [
        { path: '.config/opencode/opencode.json', content: `${JSON.stringify(opencodeConfig(input), null, 2)}\n` },
        { path: '.config/opencode/AGENTS.md', content: agentInstructions(input) },
      ],
    };
  },

  progress(line) {
    const ev = parseJsonLine(line);
    if (!ev) return undefined;
    const part = obj(ev.part);
    switch (ev.type) {
      case 'tool_use': {
        const state = obj(part.state);
        const inp = obj(state.input);
        const target = inp.filePath ?? inp.command ?? inp.pattern ?? inp.path ?? inp.url ?? '';
        const status = state.status === 'error' ? ` (error: ${short(state.error, 60)})` : '';
        return short(`${String(part.tool)} ${short(target, 80)}${status}`);
      }
      case 'text':
        return String(part.text ?? '').trim() ? `“${short(part.text, 100)}”` : undefined;
      case 'error':
        return short(`error: ${errorMessage(ev)}`);
      default:
        return undefined;
    }
  },

  // OpenCode retries a retryable model error (429, 5xx) with backoff or the provider's retry-after,
  // and its retry count cannot be set (1.18: 5 retries, hard-coded; before: forever). Each attempt
  // of the agent's own session logs `message="stream error" ... agent=build ... error.error="…"`;
  // the title agent's calls (agent=title) are left out.
  retrying(line) {
    if (!line.includes('message="stream error"') || /\bagent=title\b/.test(line)) return undefined;
    const m = /\berror\.error="((?:[^"\\]|\\.)*)"/.exec(line);
    return short(m ? m[1].replace(/^AI_\w+: /, '') : 'model call failed', 200);
  },

  result(log, exitCode) {
    const events = jsonLines(log);
    let input = 0;
    let output = 0;
    let cached = 0;
    let cost = 0;
    let steps = 0;
    let error: string | undefined;
    let retryable: boolean | undefined;
    // a failed model call it logged (stderr), for when it stopped (or was stopped) before its error event
    const retried = log
      .split(/\r?\n/)
      .map((l) => opencodeHarness.retrying!(l))
      .filter((r): r is string => r !== undefined);
    for (const ev of events) {
      if (ev.type === 'step_finish') {
        const part = obj(ev.part);
        const t = obj(part.tokens);
        const cache = obj(t.cache);
        steps++;
        input += num(t.input) + num(cache.write);
        output += num(t.output) + num(t.reasoning);
        cached += num(cache.read);
        cost += num(part.cost);
      } else if (ev.type === 'error') {
        error = errorMessage(ev);
        const data = obj(obj(ev.error).data);
        if (typeof data.statusCode === 'number') error += ` (HTTP ${data.statusCode})`;
        if (typeof data.isRetryable === 'boolean') retryable = data.isRetryable;
      }
    }
    const usage: AgentResult['usage'] = { inputTokens: input, outputTokens: output, cachedTokens: cached, costUsd: cost };
    if (error !== undefined || exitCode !== 0 || steps === 0) {
      const why = error ?? retried[retried.length - 1] ?? (logTail(log) || 'no step finished');
      const r = failure(`opencode: ${short(why, 300)}${exitCode !== 0 ? ` [exit ${exitCode}]` : ''}`, usage);
      if (retryable !== undefined) r.transient = retryable || undefined;
      return r;
    }
    return { success: true, usage };
  },
};

function errorMessage(ev: Record<string, unknown>): string {
  const e = obj(ev.error);
  const data = obj(e.data);
  return String(data.message ?? e.message ?? e.name ?? ev.message ?? 'error');
}
