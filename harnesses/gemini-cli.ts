// Gemini CLI (`gemini`, @google/gemini-cli), headless:
//   gemini [-m M] --output-format stream-json --approval-mode yolo < prompt file
// stdin not a terminal runs it non-interactively, the prompt read from stdin; yolo approves every tool call. GEMINI_CLI_TRUST_WORKSPACE=true
// trusts /workspace (untrusted, yolo is silently downgraded and tools would wait for approval).
// ~/.gemini/settings.json selects API-key auth (without it the CLI exits 41), turns off usage
// statistics, telemetry and update checks, and sets the turn limit (model.maxSessionTurns) and the
// attempts of a failed model call (general.maxAttempts: maxRetries(agent) + 1).
// Output: JSON lines (init, message, tool_use, tool_result, error, result {status, stats}).
// Through the gateway: GOOGLE_GEMINI_BASE_URL=<gateway>/gemini, GEMINI_API_KEY=<task token> (sent
// as x-goog-api-key). Standing instructions go to ~/.gemini/GEMINI.md (global context).
// Without -m the CLI first asks a routing model which model to use; name one to skip that call.
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

export function geminiSettings(turns: number, retries: number): Record<string, unknown> {
  return {
    security: { auth: { selectedType: 'gemini-api-key' } },
    privacy: { usageStatisticsEnabled: false },
    telemetry: { enabled: false },
    // maxAttempts: model request attempts (default 10, with backoff: minutes on a 429); a
    // transient failure is better retried as a task by the workflow
    general: { disableAutoUpdate: true, disableUpdateNag: true, maxAttempts: retries + 1 },
    model: { maxSessionTurns: turns },
  };
}

export const geminiCliHarness: Harness = {
  name: 'gemini-cli',
  defaultImage: AGENTS_IMAGE,
  provider: () => 'gemini',

  build(input) {
    const { agent, gateway } = input;
    const args: string[] = [];
    if (agent.model) args.push('-m', agent.model);
    // the prompt: on stdin, from the task's prompt file (shellEntry); stdin not a terminal, Gemini CLI runs headless
    args.push('--output-format', 'stream-json', '--approval-mode', 'yolo');
    const env: Record<string, string> = {
      ...agent.env,
      GEMINI_CLI_TRUST_WORKSPACE: 'true',
      NO_COLOR: '1',
    };
    if (gateway) {
      env.GOOGLE_GEMINI_BASE_URL = gatewayUrl(gateway, '/gemini');
      env.GEMINI_API_KEY = gateway.token;
    }
    return {
      image: agent.image ?? AGENTS_IMAGE,
      command: shellEntry('gemini', args),
      env,
      files: [
        { path: '.gemini/settings.json', content: `${JSON.stringify(geminiSettings(maxTurns(agent), maxRetries(agent)), null, 2)}\n` },
        { path: '.gemini/GEMINI.md', content: agentInstructions(input) },
      ],
    };
  },

  progress(line) {
    const ev = parseJsonLine(line);
    if (!ev) {
      // stderr: "Attempt 1 failed with status 429. Retrying with backoff... <error>"
      const retry = /^Attempt (\d+) failed with status (\d{3})\. Retrying/.exec(line.trim());
      return retry ? `retrying: HTTP ${retry[2]} (attempt ${retry[1]} failed)` : undefined;
    }
    switch (ev.type) {
      case 'init':
        return `started (model ${String(ev.model ?? '?')})`;
      case 'tool_use': {
        const p = obj(ev.parameters);
        return short(`${String(ev.tool_name)} ${short(p.file_path ?? p.command ?? p.pattern ?? p.dir_path ?? p.path ?? '', 90)}`.trim());
      }
      case 'tool_result':
        return ev.status === 'success' ? undefined : short(`tool error: ${String(obj(ev.error).message ?? ev.status)}`);
      case 'message':
        return ev.role === 'assistant' && String(ev.content ?? '').trim() ? `“${short(ev.content, 100)}”` : undefined;
      case 'error':
        return short(`error: ${String(ev.message ?? '')}`);
      case 'result':
        return ev.status === 'success' ? 'done' : short(`failed: ${String(obj(ev.error).message ?? ev.status)}`);
      default:
        return undefined;
    }
  },

  result(log, exitCode) {
    const events = jsonLines(log);
    const res = [...events].reverse().find((e) => e.type === 'result');
    const stats = obj(res?.stats);
    const cached = num(stats.cached);
    const usage: AgentResult['usage'] | undefined = res
      ? { inputTokens: Math.max(0, num(stats.input_tokens) - cached), outputTokens: num(stats.output_tokens), cachedTokens: cached }
      : undefined;
    if (!res || res.status !== 'success' || exitCode !== 0) {
      const lastError = [...events].reverse().find((e) => e.type === 'error');
      const why =
        (res && String(obj(res.error).message ?? '')) ||
        (lastError && String(lastError.message ?? '')) ||
        logTail(log) ||
        (res ? `status ${String(res.status)}` : 'no result event');
      // the API error's HTTP status is on stderr ("status: 429"), not always in the message
      const status = lastStatus(log);
      const r = failure(`gemini: ${short(why, 300)}${statusNote(why, status)}${exitCode !== 0 ? ` [exit ${exitCode}]` : ''}`, usage);
      if (status !== undefined) r.transient = status === 429 || status >= 500 || undefined;
      return r;
    }
    return { success: true, usage };
  },
};

/** The HTTP status of the last API error the CLI printed (its stderr: `status: 429`). */
function lastStatus(log: string): number | undefined {
  const all = [...log.matchAll(/^\s*status: (\d{3}),?\s*$/gm)];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}
