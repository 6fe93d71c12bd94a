// The agent CLI harnesses: their command lines, environments and HOME files, and their parsers on
// output captured from the real CLIs (test/fixtures/harnesses: the task logs of
// test/e2e/agents-run.test.ts, the CLIs replaying the cassettes of test/fixtures/cassettes/agents;
// re-captured with UPDATE_HARNESS_FIXTURES=1).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { claudeCodeHarness } from '../../harnesses/claude-code';
import { codexHarness } from '../../harnesses/codex';
import { geminiCliHarness } from '../../harnesses/gemini-cli';
import { opencodeHarness } from '../../harnesses/opencode';
import { AGENT_CLI_HARNESSES } from '../../harnesses';
import { maxRetries, shellEntry, type Harness, type HarnessInput } from '../../harnesses/harness';
import { retryWatch, upstreamErrorsNote } from '../../activities/retry-watch';
import { AGENTS_IMAGE } from '../../images/constants';
import { DEFAULT_RETRY, type AgentSpec } from '../../graph/types';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'harnesses');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

const TOKEN = 'avt_task_token_123';
const SECRET = 'sk-ant-REAL-SECRET-VALUE';
const GATEWAY = 'http://agentvisor-gateway:8080';

function input(harness: AgentSpec['harness'], over: Partial<AgentSpec> = {}, withGateway = true): HarnessInput {
  return {
    graphName: 'g1',
    agent: {
      name: 'coder',
      harness,
      credentials: { anthropic: 'env:ANTHROPIC_API_KEY', openai: 'env:OPENAI_API_KEY' },
      readOnly: false,
      env: {},
      limits: {},
      allowHosts: [],
      ...over,
    } as AgentSpec,
    task: {
      id: 'implement',
      agent: 'coder',
      prompt: '-starts with a dash; "quotes" and $HOME',
      after: [],
      timeoutMs: 60_000,
      retry: DEFAULT_RETRY,
    },
    gateway: withGateway ? { url: `${GATEWAY}/`, token: TOKEN } : undefined,
  };
}

/** argv after `sh -c SCRIPT`: [cli, ...args] */
function cliArgs(command: string[]): string[] {
  expect(command.slice(0, 2)).toEqual(['sh', '-c']);
  expect(command[2]).toBe('cp -a /agentvisor/home/. "$HOME"/ 2>/dev/null; exec "$0" "$@" < /agentvisor/task/prompt');
  return command.slice(3);
}

describe('shellEntry', () => {
  it("copies the HOME files, then execs the CLI with the task's prompt file as stdin", () => {
    expect(shellEntry('claude', ['-p', 'x'])).toEqual([
      'sh',
      '-c',
      'cp -a /agentvisor/home/. "$HOME"/ 2>/dev/null; exec "$0" "$@" < /agentvisor/task/prompt',
      'claude',
      '-p',
      'x',
    ]);
  });
});

describe.each(Object.values(AGENT_CLI_HARNESSES).map((h) => [h.name, h] as [string, Harness]))('%s build()', (_name, harness) => {
  it('uses the agents image unless the agent names one, and never carries a credential value', () => {
    process.env.ANTHROPIC_API_KEY = SECRET;
    try {
      const inv = harness.build(input(harness.name as AgentSpec['harness']));
      expect(harness.defaultImage).toBe(AGENTS_IMAGE);
      expect(inv.image).toBe(AGENTS_IMAGE);
      const all = JSON.stringify(inv);
      expect(all).not.toContain(SECRET);
      expect(all).not.toContain('env:ANTHROPIC_API_KEY');
      for (const f of inv.files ?? []) {
        expect(path.isAbsolute(f.path)).toBe(false);
        expect(f.content).not.toContain(TOKEN); // the token is in the environment only
      }
      expect(harness.build(input(harness.name as AgentSpec['harness'], { image: 'mine:1' })).image).toBe('mine:1');
    } finally {
      delete process.env.ANTHROPIC_API_KEY;
    }
  });

  it('never puts the prompt in argv or the environment (it is the prompt file, on stdin), and passes the agent env through', () => {
    const inv = harness.build(
      input(harness.name as AgentSpec['harness'], { env: { FOO: 'bar' }, promptTemplate: 'Role: tester. {{prompt}}' }),
    );
    const args = cliArgs(inv.command);
    expect(JSON.stringify([args, inv.env])).not.toContain('starts with a dash');
    expect(inv.env.FOO).toBe('bar');
  });

  it('writes standing instructions into HOME naming the agent, task and workspace', () => {
    const inv = harness.build(input(harness.name as AgentSpec['harness']));
    const md = (inv.files ?? []).find((f) => f.path.endsWith('.md'));
    expect(md?.content).toContain('"coder"');
    expect(md?.content).toContain('"implement"');
    expect(md?.content).toContain('/workspace');
    expect(md?.content).toMatch(/never ask/);
  });

  it('without a gateway, sets no provider endpoint or key', () => {
    const inv = harness.build(input(harness.name as AgentSpec['harness'], {}, false));
    expect(JSON.stringify(inv)).not.toContain('agentvisor-gateway');
    expect(Object.keys(inv.env).filter((k) => /API_KEY|GATEWAY_TOKEN/.test(k))).toEqual([]);
  });
});

describe('claude-code build()', () => {
  it('runs claude headless with stream-json, no permission prompts, turn limit and model', () => {
    const inv = claudeCodeHarness.build(input('claude-code', { model: 'claude-sonnet-4-5', env: { AGENTVISOR_MAX_TURNS: '7' } }));
    const args = cliArgs(inv.command);
    expect(args).toEqual([
      'claude',
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--dangerously-skip-permissions',
      '--max-turns',
      '7',
      '--model',
      'claude-sonnet-4-5',
    ]);
    expect(inv.env).toMatchObject({
      ANTHROPIC_BASE_URL: `${GATEWAY}/anthropic`,
      ANTHROPIC_API_KEY: TOKEN,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_AUTOUPDATER: '1',
      DISABLE_TELEMETRY: '1',
    });
    expect(inv.files?.map((f) => f.path)).toEqual(['.claude/CLAUDE.md']);
  });
  it('defaults to 100 turns and the CLI default model', () => {
    const args = cliArgs(claudeCodeHarness.build(input('claude-code')).command);
    expect(args).toContain('100');
    expect(args).not.toContain('--model');
  });
});

describe('retries of a failed model call (AGENTVISOR_MAX_RETRIES)', () => {
  const agent = (v?: string) => input('claude-code', v === undefined ? {} : { env: { AGENTVISOR_MAX_RETRIES: v } }).agent;
  it('defaults to 2; 0 is allowed; anything that is not a whole number is ignored', () => {
    expect([
      maxRetries(agent()),
      maxRetries(agent('0')),
      maxRetries(agent('5')),
      maxRetries(agent('-1')),
      maxRetries(agent('x')),
      maxRetries(agent('')),
    ]).toEqual([2, 0, 5, 2, 2, 2]);
  });
  it("becomes each CLI's own setting", () => {
    const env = { AGENTVISOR_MAX_RETRIES: '4' };
    expect(claudeCodeHarness.build(input('claude-code', { env })).env.CLAUDE_CODE_MAX_RETRIES).toBe('4');
    expect(cliArgs(codexHarness.build(input('codex', { env })).command).join(' ')).toContain('request_max_retries=4,stream_max_retries=4}');
    const settings = JSON.parse(
      geminiCliHarness.build(input('gemini-cli', { env })).files!.find((f) => f.path === '.gemini/settings.json')!.content,
    );
    expect(settings.general.maxAttempts).toBe(5);
    expect(claudeCodeHarness.build(input('claude-code')).env.CLAUDE_CODE_MAX_RETRIES).toBe('2');
  });
});

describe('codex build()', () => {
  it('runs codex exec --json through an "agentvisor" Responses provider at the gateway', () => {
    const inv = codexHarness.build(input('codex', { model: 'gpt-5.2-codex' }));
    const args = cliArgs(inv.command);
    expect(args.slice(0, 8)).toEqual([
      'codex',
      'exec',
      '--json',
      '--ephemeral',
      '--skip-git-repo-check',
      '--dangerously-bypass-approvals-and-sandbox',
      '-m',
      'gpt-5.2-codex',
    ]);
    expect(args).toContain('model_provider=agentvisor');
    expect(args).toContain(
      'model_providers.agentvisor={name="agentvisor gateway",base_url="http://agentvisor-gateway:8080/openai/v1",wire_api="responses",env_key="OPENAI_API_KEY",request_max_retries=2,stream_max_retries=2}',
    );
    for (const off of ['check_for_update_on_startup=false', 'analytics.enabled=false', 'feedback.enabled=false'])
      expect(args).toContain(off);
    for (const f of ['plugins', 'apps', 'remote_plugin', 'in_app_updates']) expect(args.join(' ')).toContain(`--disable ${f}`);
    expect(args.at(-1)).toBe('-'); // the prompt: stdin
    expect(inv.env.OPENAI_API_KEY).toBe(TOKEN);
    expect(inv.files?.map((f) => f.path)).toEqual(['.codex/AGENTS.md']);
  });
});

describe('gemini-cli build()', () => {
  it('runs gemini headless with stream-json and yolo, trusted, API-key auth through the gateway', () => {
    const inv = geminiCliHarness.build(input('gemini-cli', { model: 'gemini-2.5-pro', env: { AGENTVISOR_MAX_TURNS: '9' } }));
    expect(cliArgs(inv.command)).toEqual(['gemini', '-m', 'gemini-2.5-pro', '--output-format', 'stream-json', '--approval-mode', 'yolo']);
    expect(inv.env).toMatchObject({
      GOOGLE_GEMINI_BASE_URL: `${GATEWAY}/gemini`,
      GEMINI_API_KEY: TOKEN,
      GEMINI_CLI_TRUST_WORKSPACE: 'true',
    });
    const settings = JSON.parse(inv.files!.find((f) => f.path === '.gemini/settings.json')!.content);
    expect(settings).toEqual({
      security: { auth: { selectedType: 'gemini-api-key' } },
      privacy: { usageStatisticsEnabled: false },
      telemetry: { enabled: false },
      general: { disableAutoUpdate: true, disableUpdateNag: true, maxAttempts: 3 },
      model: { maxSessionTurns: 9 },
    });
    expect(inv.files!.map((f) => f.path)).toContain('.gemini/GEMINI.md');
  });
});

describe('opencode build()', () => {
  it('runs opencode run --format json with providers pointed at the gateway', () => {
    const inv = opencodeHarness.build(input('opencode', { model: 'openai/gpt-5-mini' }));
    expect(cliArgs(inv.command)).toEqual([
      'opencode',
      'run',
      '--format',
      'json',
      '--auto',
      '--print-logs',
      '--log-level',
      'ERROR',
      '-m',
      'openai/gpt-5-mini',
    ]);
    expect(inv.env).toMatchObject({
      AGENTVISOR_GATEWAY_TOKEN: TOKEN,
      OPENCODE_DISABLE_MODELS_FETCH: '1',
      OPENCODE_DISABLE_AUTOUPDATE: '1',
      OPENCODE_DISABLE_SHARE: '1',
    });
    const config = JSON.parse(inv.files!.find((f) => f.path === '.config/opencode/opencode.json')!.content);
    expect(config.permission).toEqual({ '*': 'allow' });
    expect(config.model).toBe('openai/gpt-5-mini');
    expect(config.provider).toEqual({
      openai: { options: { baseURL: `${GATEWAY}/openai/v1`, apiKey: '{env:AGENTVISOR_GATEWAY_TOKEN}' } },
      anthropic: { options: { baseURL: `${GATEWAY}/anthropic/v1`, apiKey: '{env:AGENTVISOR_GATEWAY_TOKEN}' } },
      google: { options: { baseURL: `${GATEWAY}/gemini/v1beta`, apiKey: '{env:AGENTVISOR_GATEWAY_TOKEN}' } },
    });
    expect(inv.files!.map((f) => f.path)).toContain('.config/opencode/AGENTS.md');
  });
});

// ------------------------------------------------------------------------------------ parsers

function progressOf(h: Harness, log: string): string[] {
  return log
    .split('\n')
    .map((l) => h.progress!(l))
    .filter((x): x is string => x !== undefined);
}

describe('claude-code parsers', () => {
  const log = fixture('claude-code.out');
  it('progress: start, the Write tool call, the final text, done', () => {
    expect(progressOf(claudeCodeHarness, log)).toEqual([
      'started (model claude-sonnet-4-5)',
      'Write /workspace/claude.txt',
      '“Done: wrote claude.txt.”',
      'done (2 turns)',
    ]);
    expect(claudeCodeHarness.progress!('not json')).toBeUndefined();
  });
  it('result: success with usage (cache writes counted as input) and cost', () => {
    expect(claudeCodeHarness.result!(log, 0)).toEqual({
      success: true,
      usage: { inputTokens: 1750, outputTokens: 97, cachedTokens: 7400, costUsd: 0.009225 },
    });
  });
  it('result: an API error ends failed with its message and status, transient for 5xx, and its retries show', () => {
    const auth = fixture('claude-code.error401.out');
    expect(claudeCodeHarness.result!(auth, 1)).toMatchObject({
      success: false,
      reason: 'claude: Invalid API key · Fix external API key (HTTP 401) [exit 1]',
    });
    expect(claudeCodeHarness.result!(auth, 1).transient).toBeFalsy();
    const server = claudeCodeHarness.result!(fixture('claude-code.error500.out'), 1);
    expect(server).toMatchObject({ success: false, transient: true });
    expect(server.reason).toMatch(/^claude: API Error: 500 Internal server error/);
    expect(progressOf(claudeCodeHarness, fixture('claude-code.error500.out'))).toContain('retrying: 500 server_error (attempt 2/2)');
  });
  it('result: no result line → failed with the exit code and stderr tail', () => {
    const r = claudeCodeHarness.result!('Error: something broke\n', 2);
    expect(r).toMatchObject({ success: false });
    expect(r.reason).toContain('exited with code 2');
    expect(r.reason).toContain('something broke');
  });
});

describe('codex parsers', () => {
  const log = fixture('codex.out');
  it('progress: the command it ran and its answer', () => {
    const p = progressOf(codexHarness, log);
    expect(p[0]).toBe('started');
    expect(p).toContain('$ /bin/bash -lc "printf \'hello from codex\\\\n\' > /workspace/codex.txt"');
    expect(p).toContain('“Done: wrote codex.txt.”');
    expect(p[p.length - 1]).toBe('done');
  });
  it('result: success with usage (cached split out of input), no cost', () => {
    expect(codexHarness.result!(log, 0)).toEqual({ success: true, usage: { inputTokens: 1328, outputTokens: 82, cachedTokens: 3072 } });
  });
  it('result: turn.failed → failed with its message; a 429 after its retries is transient', () => {
    const r = codexHarness.result!(fixture('codex.error429.out'), 1);
    expect(r).toMatchObject({
      success: false,
      reason: 'codex: exceeded retry limit, last status: 429 Too Many Requests [exit 1]',
      transient: true,
    });
  });
  it('result: the message codex puts in place of a 500 is named as one, transient', () => {
    const r = codexHarness.result!(fixture('codex.error500.out'), 1);
    expect(r).toMatchObject({
      success: false,
      reason:
        'codex: We’re currently experiencing high demand, which may cause temporary errors. (HTTP 500: the provider reported an internal server error) [exit 1]',
      transient: true,
    });
  });
});

describe('gemini-cli parsers', () => {
  const log = fixture('gemini-cli.out');
  it('progress: the write_file call and the answer', () => {
    expect(progressOf(geminiCliHarness, log)).toEqual([
      'started (model gemini-2.5-pro)',
      'write_file /workspace/gemini.txt',
      '“Done: wrote gemini.txt.”',
      'done',
    ]);
  });
  it('result: success with usage as the CLI counts it (without thinking tokens), no cost', () => {
    expect(geminiCliHarness.result!(log, 0)).toEqual({ success: true, usage: { inputTokens: 3100, outputTokens: 55, cachedTokens: 3000 } });
  });
  it('result: an error result → failed, with the HTTP status from stderr; its retries show as progress', () => {
    const errorLog = fixture('gemini-cli.error429.out');
    const r = geminiCliHarness.result!(errorLog, 1);
    expect(r).toMatchObject({ success: false, transient: true });
    expect(r.reason).toMatch(/^gemini: \[API Error: Resource has been exhausted \(e\.g\. check quota\)\.\].* \(HTTP 429\) \[exit 1\]$/);
    expect(progressOf(geminiCliHarness, errorLog)).toEqual(
      expect.arrayContaining(['retrying: HTTP 429 (attempt 1 failed)', 'retrying: HTTP 429 (attempt 2 failed)']),
    );
    // a 4xx named on stderr is not transient
    const auth = geminiCliHarness.result!(
      '{"type":"result","status":"error","error":{"message":"[API Error: denied]"}}\n  status: 403\n',
      1,
    );
    expect(auth).toMatchObject({ reason: 'gemini: [API Error: denied] (HTTP 403) [exit 1]' });
    expect(auth.transient).toBeFalsy();
  });
});

describe('opencode parsers', () => {
  const log = fixture('opencode.out');
  it('progress: the tool call and the answer', () => {
    expect(progressOf(opencodeHarness, log)).toEqual([
      "bash printf 'hello from opencode\\n' > /workspace/opencode.txt",
      '“Done: wrote opencode.txt.”',
    ]);
  });
  it('result: success with usage summed over steps, and cost (its own table)', () => {
    const r = opencodeHarness.result!(log, 0);
    expect(r.success).toBe(true);
    expect(r.usage).toMatchObject({ inputTokens: 1496, outputTokens: 150, cachedTokens: 8704 });
    expect(r.usage!.costUsd).toBeCloseTo(0.0008916, 10);
  });
  it('result: an error event → failed with its message and status', () => {
    const event = JSON.stringify({
      type: 'error',
      error: { name: 'APIError', data: { message: 'Incorrect API key provided', statusCode: 401, isRetryable: false } },
    });
    const r = opencodeHarness.result!(`${event}\n`, 1);
    expect(r).toMatchObject({ success: false, reason: 'opencode: Incorrect API key provided (HTTP 401) [exit 1]' });
    expect(r.transient).toBeFalsy();
  });
  it('retrying: each failed call of its own session (not of its title) before it retries', () => {
    const errorLog = fixture('opencode.error429.out');
    const retries = errorLog
      .split('\n')
      .map((l) => opencodeHarness.retrying!(l))
      .filter(Boolean);
    expect(retries.length).toBeGreaterThanOrEqual(3);
    for (const r of retries)
      expect(r).toBe('Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.');
    expect(errorLog).toContain('agent=title'); // the title's failure is in the log, and not counted
    expect(opencodeHarness.retrying!('{"type":"text"}')).toBeUndefined();
    // stopped mid-retry (no error event): the reason is the failed call
    expect(opencodeHarness.result!(errorLog, 143).reason).toBe(`opencode: ${retries[0]} [exit 143]`);
  });
});

describe('retryWatch: the bound on retries a CLI makes on its own', () => {
  const agent = input('opencode', { env: { AGENTVISOR_MAX_RETRIES: '2' } }).agent;
  it('shows each failed call, and past the limit gives the reason to stop, transient', () => {
    const w = retryWatch(opencodeHarness, agent);
    const lines = fixture('opencode.error429.out')
      .split('\n')
      .filter((l) => opencodeHarness.retrying!(l));
    expect(w.progress(lines[0])).toBe(
      'model call failed (attempt 1 of 3): Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.',
    );
    w.progress(lines[1]);
    expect(w.exhausted()).toBeUndefined();
    expect(w.result(undefined)).toBeUndefined();
    w.progress(lines[2]);
    const reason =
      'opencode: gave up after the model call failed 3 times (2 retries, AGENTVISOR_MAX_RETRIES): Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.';
    expect(w.exhausted()).toBe(reason);
    w.progress(lines[2]);
    expect(w.exhausted()).toBe(reason); // the first reason stays
    expect(w.result({ inputTokens: 1, outputTokens: 0, cachedTokens: 0 })).toEqual({
      success: false,
      reason,
      usage: { inputTokens: 1, outputTokens: 0, cachedTokens: 0 },
      transient: true,
    });
    // other lines go to the harness's progress parser
    expect(w.progress(fixture('opencode.out').split('\n')[1])).toBe(opencodeHarness.progress!(fixture('opencode.out').split('\n')[1]));
  });
  it('never stops a CLI whose harness reports no retries', () => {
    const w = retryWatch(claudeCodeHarness, agent);
    for (const l of fixture('claude-code.error500.out').split('\n')) w.progress(l);
    expect(w.exhausted()).toBeUndefined();
  });
  it('names the error statuses the gateway saw', () => {
    expect(upstreamErrorsNote({ 429: 6, 500: 1 })).toBe(' (the provider answered HTTP 429 ×6, HTTP 500)');
    expect(upstreamErrorsNote(undefined)).toBe('');
  });
});
