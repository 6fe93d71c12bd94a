// OpenAI Codex CLI (`codex`, @openai/codex), headless:
//   codex exec --json --ephemeral --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox
//        [-m M] -c model_provider=agentvisor -c 'model_providers.agentvisor={…}' -c … --disable … - < prompt file
// `exec` never asks: with --dangerously-bypass-approvals-and-sandbox it runs every command
// without approval and without its own (bubblewrap) sandbox — the container is the boundary.
// --skip-git-repo-check: /workspace/.git points to a path that is not mounted. --ephemeral: no
// session files. The --disable flags keep it from fetching plugins/apps/updates. Output: JSON lines
// (thread.started, item.started/completed, turn.completed {usage}, turn.failed, error).
// Through the gateway: a model provider "agentvisor" with base_url <gateway>/openai/v1 (Responses
// API) whose key is read from OPENAI_API_KEY = <task token> (sent as a Bearer token).
// Standing instructions go to ~/.codex/AGENTS.md (CODEX_HOME defaults to ~/.codex). Codex has no
// turn limit; the task timeout bounds it. Retries of failed model calls: the provider's
// request_max_retries and stream_max_retries, from maxRetries(agent).
import { AGENTS_IMAGE } from '../images/constants';
import {
  agentInstructions,
  failure,
  gatewayUrl,
  jsonLines,
  logTail,
  maxRetries,
  num,
  obj,
  parseJsonLine,
  shellEntry,
  short,
  type AgentResult,
  type Harness,
} from './harness';

/**
 * Codex replaces some provider errors by fixed messages without the HTTP status (its CodexErr
 * variants): name what they stand for, and treat them as transient.
 */
const KNOWN_ERRORS: { pattern: RegExp; note: string }[] = [
  { pattern: /currently experiencing high demand/i, note: 'HTTP 500: the provider reported an internal server error' },
  { pattern: /selected model is at capacity/i, note: 'the provider reported the model overloaded' },
];

/** A TOML basic string. */
function toml(s: string): string {
  return JSON.stringify(s);
}

export const codexHarness: Harness = {
  name: 'codex',
  defaultImage: AGENTS_IMAGE,
  provider: () => 'openai',

  build(input) {
    const { agent, gateway } = input;
    const args = ['exec', '--json', '--ephemeral', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox'];
    if (agent.model) args.push('-m', agent.model);
    const retries = maxRetries(agent);
    if (gateway) {
      const provider =
        `{name="agentvisor gateway",base_url=${toml(gatewayUrl(gateway, '/openai/v1'))},wire_api="responses",` +
        `env_key="OPENAI_API_KEY",request_max_retries=${retries},stream_max_retries=${retries}}`;
      args.push('-c', 'model_provider=agentvisor', '-c', `model_providers.agentvisor=${provider}`);
    }
    args.push(
      '-c',
      'check_for_update_on_startup=false',
      '-c',
      'analytics.enabled=false',
      '-c',
      'feedback.enabled=false',
      '--disable',
      'plugins',
      '--disable',
      'apps',
      '--disable',
      'remote_plugin',
      '--disable',
      'in_app_updates',
      // "-": the prompt is read from stdin, the task's prompt file (shellEntry)
      '-',
    );
    const env: Record<string, string> = { ...agent.env };
    if (gateway) env.OPENAI_API_KEY = gateway.token;
    return {
      image: agent.image ?? AGENTS_IMAGE,
      command: shellEntry('codex', args),
      env,
      files: [{ path: '.codex/AGENTS.md', content: agentInstructions(input) }],
    };
  },

  progress(line) {
    const ev = parseJsonLine(line);
    if (!ev) return undefined;
    switch (ev.type) {
      case 'thread.started':
        return 'started';
      case 'item.started': {
        const item = obj(ev.item);
        if (item.type === 'command_execution') return short(`$ ${String(item.command ?? '')}`);
        if (item.type === 'mcp_tool_call') return short(`tool ${String(item.server ?? '')}.${String(item.tool ?? '')}`);
        return undefined;
      }
      case 'item.completed': {
        const item = obj(ev.item);
        switch (item.type) {
          case 'agent_message':
            return `“${short(item.text, 100)}”`;
          case 'file_change': {
            const changes = (item.changes as unknown[] | undefined) ?? [];
            return short(`changed ${changes.map((c) => String(obj(c).path ?? '')).join(', ')}`);
          }
          case 'command_execution':
            return num(item.exit_code) !== 0 ? short(`command failed (exit ${num(item.exit_code)})`) : undefined;
          case 'error':
            return short(`warning: ${String(item.message ?? '')}`);
          default:
            return undefined;
        }
      }
      case 'turn.completed':
        return 'done';
      case 'turn.failed':
        return short(`failed: ${String(obj(ev.error).message ?? '')}`);
      case 'error':
        return short(`error: ${String(ev.message ?? '')}`);
      default:
        return undefined;
    }
  },

  result(log, exitCode) {
    const events = jsonLines(log);
    let input = 0;
    let cached = 0;
    let output = 0;
    let completed = false;
    let failed: string | undefined;
    let lastError: string | undefined;
    for (const ev of events) {
      if (ev.type === 'turn.completed') {
        completed = true;
        const u = obj(ev.usage);
        input += num(u.input_tokens);
        cached += num(u.cached_input_tokens);
        output += num(u.output_tokens);
      } else if (ev.type === 'turn.failed') {
        failed = String(obj(ev.error).message ?? 'turn failed');
      } else if (ev.type === 'error') {
        lastError = String(ev.message ?? '');
      }
    }
    const usage: AgentResult['usage'] = { inputTokens: Math.max(0, input - cached), outputTokens: output, cachedTokens: cached };
    if (failed !== undefined || !completed || exitCode !== 0) {
      const why = failed ?? lastError ?? (logTail(log) || 'no turn.completed event');
      const known = KNOWN_ERRORS.find((k) => k.pattern.test(why));
      const r = failure(`codex: ${short(why, 300)}${known ? ` (${known.note})` : ''}${exitCode !== 0 ? ` [exit ${exitCode}]` : ''}`, usage);
      if (known) r.transient = true;
      return r;
    }
    return { success: true, usage };
  },
};
