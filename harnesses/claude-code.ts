// Claude Code (`claude`, @anthropic-ai/claude-code), headless:
//   claude -p --output-format stream-json --verbose --dangerously-skip-permissions
//          --max-turns N [--model M] < prompt file
// -p (print mode) never shows the trust or permission dialogs; --dangerously-skip-permissions lets
// every tool run without asking (the container is the boundary; the CLI refuses this flag as root,
// and agent containers never run as root). Output: one JSON object per line; the last one is
// {"type":"result", is_error, result, usage, total_cost_usd, …}.
// Through the gateway: ANTHROPIC_BASE_URL=<gateway>/anthropic, ANTHROPIC_API_KEY=<task token>
// (sent as x-api-key). Standing instructions go to ~/.claude/CLAUDE.md (user memory).
import { AGENTS_IMAGE } from '../images/constants';
import {
  agentInstructions,
  failure,
  gatewayUrl,
  jsonLines,
  logTail,
  maxRetries,
  maxTurns,
  num,
  obj,
  parseJsonLine,
  shellEntry,
  short,
  statusNote,
  type AgentResult,
  type Harness,
} from './harness';

export const claudeCodeHarness: Harness = {
  name: 'claude-code',
  defaultImage: AGENTS_IMAGE,
  provider: () => 'anthropic',

  build(input) {
    const { agent, gateway } = input;
    const args = ['-p', '--output-format', 'stream-json', '--verbose', '--dangerously-skip-permissions'];
    args.push('--max-turns', String(maxTurns(agent)));
    if (agent.model) args.push('--model', agent.model);
    // the prompt: on stdin, from the task's prompt file (shellEntry)

    const env: Record<string, string> = {
      // API retries (default 10, with backoff); past them a transient failure is retried as a task
      CLAUDE_CODE_MAX_RETRIES: String(maxRetries(agent)),
      ...agent.env,
      // no telemetry, error reports, auto-update, or other traffic besides the model API
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_ERROR_REPORTING: '1',
      DISABLE_BUG_COMMAND: '1',
    };
    if (gateway) {
      env.ANTHROPIC_BASE_URL = gatewayUrl(gateway, '/anthropic');
      env.ANTHROPIC_API_KEY = gateway.token;
    }
    return {
      image: agent.image ?? AGENTS_IMAGE,
      command: shellEntry('claude', args),
      env,
      files: [{ path: '.claude/CLAUDE.md', content: agentInstructions(input) }],
    };
  },

  progress(line) {
    const ev = parseJsonLine(line);
    if (!ev) return undefined;
    switch (ev.type) {
      case 'system':
        if (ev.subtype === 'init') return `started (model ${String(ev.model ?? '?')})`;
        if (ev.subtype === 'api_retry') {
          return `retrying: ${String(ev.error_status ?? '')} ${String(ev.error ?? '')} (attempt ${num(ev.attempt)}/${num(ev.max_retries)})`;
        }
        return undefined;
      case 'assistant': {
        const parts = (obj(ev.message).content as unknown[] | undefined) ?? [];
        const out: string[] = [];
        for (const p of parts.map(obj)) {
          if (p.type === 'tool_use') out.push(`${String(p.name)} ${toolTarget(obj(p.input))}`.trim());
          else if (p.type === 'text' && String(p.text ?? '').trim()) out.push(`“${short(p.text, 80)}”`);
        }
        return out.length ? short(out.join('; ')) : undefined;
      }
      case 'user': {
        const parts = (obj(ev.message).content as unknown[] | undefined) ?? [];
        const err = parts.map(obj).find((p) => p.type === 'tool_result' && p.is_error);
        return err ? `tool error: ${short(typeof err.content === 'string' ? err.content : JSON.stringify(err.content), 100)}` : undefined;
      }
      case 'result':
        return ev.is_error ? `failed: ${short(ev.result ?? ev.subtype, 100)}` : `done (${num(ev.num_turns)} turns)`;
      default:
        return undefined;
    }
  },

  result(log, exitCode) {
    const events = jsonLines(log);
    const res = [...events].reverse().find((e) => e.type === 'result');
    if (!res) {
      return failure(`claude exited with code ${exitCode} without a result${tailNote(log)}`);
    }
    const u = obj(res.usage);
    const usage: AgentResult['usage'] = {
      inputTokens: num(u.input_tokens) + num(u.cache_creation_input_tokens),
      outputTokens: num(u.output_tokens),
      cachedTokens: num(u.cache_read_input_tokens),
      costUsd: typeof res.total_cost_usd === 'number' ? res.total_cost_usd : undefined,
    };
    if (res.is_error || res.subtype !== 'success' || exitCode !== 0) {
      const what = String(res.result ?? '').trim() || String(res.subtype ?? 'error');
      const status = typeof res.api_error_status === 'number' ? res.api_error_status : undefined;
      const reason = `claude: ${short(what, 300)}${statusNote(what, status)}${res.subtype && res.subtype !== 'success' ? ` (${String(res.subtype)})` : ''}${
        exitCode !== 0 ? ` [exit ${exitCode}]` : ''
      }`;
      const r = failure(reason, usage);
      if (status !== undefined) r.transient = status === 429 || status >= 500 || undefined;
      return r;
    }
    return { success: true, usage };
  },
};

function toolTarget(input: Record<string, unknown>): string {
  const v = input.file_path ?? input.command ?? input.pattern ?? input.path ?? input.url ?? input.description ?? '';
  return short(v, 90);
}

function tailNote(log: string): string {
  const t = logTail(log);
  return t ? `: ${t}` : '';
}
