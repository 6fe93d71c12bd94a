// The agent CLI harnesses: their command lines, environments and HOME files, and their parsers on
// output captured from the real CLIs (test/fixtures/harnesses, recorded by test/e2e/agents.test.ts
// against test/support/fake-gateway.js).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { claudeCodeHarness } from '../../harnesses/claude-code';
import { codexHarness } from '../../harnesses/codex';
import { geminiCliHarness } from '../../harnesses/gemini-cli';
import { opencodeHarness } from '../../harnesses/opencode';
import { AGENT_CLI_HARNESSES } from '../../harnesses';
import { shellEntry, type Harness, type HarnessInput } from '../../harnesses/harness';
import { AGENTS_IMAGE } from '../../images/constants';
import { DEFAULT_RETRY, type AgentSpec } from '../../spec/types';

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
    task: { id: 'implement', agent: 'coder', prompt: '-starts with a dash; "quotes" and $HOME', after: [], timeoutMs: 60_000, retry: DEFAULT_RETRY },
    gateway: withGateway ? { url: `${GATEWAY}/`, token: TOKEN } : undefined,
  };
}

/** argv after `sh -c SCRIPT`: [cli, ...args] */
function cliArgs(command: string[]): string[] {
  expect(command.slice(0, 2)).toEqual(['sh', '-c']);
  expect(command[2]).toBe('cp -a /agentvisor/home/. "$HOME"/ 2>/dev/null; exec "$0" "$@" < /dev/null');
  return command.slice(3);
}

describe('shellEntry', () => {
  it('copies the HOME files, then execs the CLI with stdin from /dev/null', () => {
    expect(shellEntry('claude', ['-p', 'x'])).toEqual(['sh', '-c', 'cp -a /agentvisor/home/. "$HOME"/ 2>/dev/null; exec "$0" "$@" < /dev/null', 'claude', '-p', 'x']);
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

  it('passes the rendered prompt as one argv word, and the agent env through', () => {
    const inv = harness.build(input(harness.name as AgentSpec['harness'], { env: { FOO: 'bar' }, promptTemplate: 'Role: tester. {{prompt}}' }));
    const args = cliArgs(inv.command);
    const prompt = 'Role: tester. -starts with a dash; "quotes" and $HOME';
    expect(args.some((a) => a === prompt || a === `--prompt=${prompt}`)).toBe(true);
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
      'claude', '-p', '--output-format', 'stream-json', '--verbose', '--dangerously-skip-permissions',
      '--max-turns', '7', '--model', 'claude-sonnet-4-5', '--', '-starts with a dash; "quotes" and $HOME',
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

describe('codex build()', () => {
  it('runs codex exec --json through an "agentvisor" Responses provider at the gateway', () => {
    const inv = codexHarness.build(input('codex', { model: 'gpt-5.2-codex' }));
    const args = cliArgs(inv.command);
    expect(args.slice(0, 8)).toEqual([
      'codex', 'exec', '--json', '--ephemeral', '--skip-git-repo-check', '--dangerously-bypass-approvals-and-sandbox', '-m', 'gpt-5.2-codex',
    ]);
    expect(args).toContain('model_provider=agentvisor');
    expect(args).toContain(
      'model_providers.agentvisor={name="agentvisor gateway",base_url="http://agentvisor-gateway:8080/openai/v1",wire_api="responses",env_key="OPENAI_API_KEY",request_max_retries=2,stream_max_retries=2}',
    );
    for (const off of ['check_for_update_on_startup=false', 'analytics.enabled=false', 'feedback.enabled=false']) expect(args).toContain(off);
    for (const f of ['plugins', 'apps', 'remote_plugin', 'in_app_updates']) expect(args.join(' ')).toContain(`--disable ${f}`);
    expect(args.slice(-2)).toEqual(['--', '-starts with a dash; "quotes" and $HOME']);
    expect(inv.env.OPENAI_API_KEY).toBe(TOKEN);
    expect(inv.files?.map((f) => f.path)).toEqual(['.codex/AGENTS.md']);
  });
});

describe('gemini-cli build()', () => {
  it('runs gemini headless with stream-json and yolo, trusted, API-key auth through the gateway', () => {
    const inv = geminiCliHarness.build(input('gemini-cli', { model: 'gemini-2.5-pro', env: { AGENTVISOR_MAX_TURNS: '9' } }));
    expect(cliArgs(inv.command)).toEqual([
      'gemini', '-m', 'gemini-2.5-pro', '--prompt=-starts with a dash; "quotes" and $HOME', '--output-format', 'stream-json', '--approval-mode', 'yolo',
    ]);
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
      'opencode', 'run', '--format', 'json', '--auto', '-m', 'openai/gpt-5-mini', '--', '-starts with a dash; "quotes" and $HOME',
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
  return log.split('\n').map((l) => h.progress!(l)).filter((x): x is string => x !== undefined);
}

describe('claude-code parsers', () => {
  const log = fixture('claude-code.stream.jsonl');
  it('progress: start, the Write tool call, the final text, done', () => {
    expect(progressOf(claudeCodeHarness, log)).toEqual([
      'started (model claude-sonnet-4-5)',
      'Write /workspace/hello.txt',
      '“Done: wrote hello.txt.”',
      'done (2 turns)',
    ]);
    expect(claudeCodeHarness.progress!('not json')).toBeUndefined();
  });
  it('result: success with usage and cost', () => {
    expect(claudeCodeHarness.result!(log, 0)).toEqual({
      success: true,
      usage: { inputTokens: 240, outputTokens: 60, cachedTokens: 20, costUsd: 0.0016259999999999998 },
    });
  });
  it('result: an API error ends failed with its message, transient for 429/5xx', () => {
    const r = claudeCodeHarness.result!(fixture('claude-code.error429.jsonl'), 1);
    expect(r.success).toBe(false);
    expect(r.reason).toMatch(/429/);
    expect(r.transient).toBe(true);
    const auth = claudeCodeHarness.result!(fixture('claude-code.error401.jsonl'), 1);
    expect(auth.success).toBe(false);
    expect(auth.reason).toMatch(/401|auth|key/i);
    expect(auth.transient).toBeFalsy();
  });
  it('result: no result line → failed with the exit code and stderr tail', () => {
    const r = claudeCodeHarness.result!('Error: something broke\n', 2);
    expect(r).toMatchObject({ success: false });
    expect(r.reason).toContain('exited with code 2');
    expect(r.reason).toContain('something broke');
  });
});

describe('codex parsers', () => {
  const log = fixture('codex.jsonl');
  it('progress: the command it ran and its answer', () => {
    const p = progressOf(codexHarness, log);
    expect(p[0]).toBe('started');
    expect(p).toContain("$ /bin/bash -lc \"printf '%s' 'hello from agentvisor ' > /workspace/hello.txt\"");
    expect(p).toContain('“Done: wrote hello.txt.”');
    expect(p[p.length - 1]).toBe('done');
  });
  it('result: success with usage (cached split out of input), no cost', () => {
    expect(codexHarness.result!(log, 0)).toEqual({ success: true, usage: { inputTokens: 220, outputTokens: 60, cachedTokens: 20 } });
  });
  it('result: turn.failed → failed with its message', () => {
    const r = codexHarness.result!(fixture('codex.error429.jsonl'), 1);
    expect(r.success).toBe(false);
    expect(r.reason).toMatch(/^codex: /);
    expect(r.transient).toBe(true);
  });
});

describe('gemini-cli parsers', () => {
  const log = fixture('gemini-cli.stream.jsonl');
  it('progress: the write_file call and the answer', () => {
    expect(progressOf(geminiCliHarness, log)).toEqual([
      'started (model gemini-2.5-pro)',
      'write_file /workspace/hello.txt',
      '“Done: wrote hello.txt.”',
      'done',
    ]);
  });
  it('result: success with usage, no cost', () => {
    expect(geminiCliHarness.result!(log, 0)).toEqual({ success: true, usage: { inputTokens: 220, outputTokens: 60, cachedTokens: 20 } });
  });
  it('result: an error result → failed', () => {
    const r = geminiCliHarness.result!(fixture('gemini-cli.error429.jsonl'), 1);
    expect(r.success).toBe(false);
    expect(r.reason).toMatch(/^gemini: /);
    expect(r.transient).toBe(true);
  });
});

describe('opencode parsers', () => {
  const log = fixture('opencode.jsonl');
  it('progress: the tool call and the answer', () => {
    expect(progressOf(opencodeHarness, log)).toEqual([
      "bash printf '%s' 'hello from agentvisor ' > /workspace/hello.txt",
      '“Done: wrote hello.txt.”',
    ]);
  });
  it('result: success with usage summed over steps, and cost', () => {
    const r = opencodeHarness.result!(log, 0);
    expect(r.success).toBe(true);
    expect(r.usage).toMatchObject({ inputTokens: 220, outputTokens: 60, cachedTokens: 20 });
    expect(r.usage!.costUsd).toBeCloseTo(0.0001755, 10);
  });
  it('result: an error event → failed', () => {
    const r = opencodeHarness.result!(fixture('opencode.error401.jsonl'), 1);
    expect(r.success).toBe(false);
    expect(r.reason).toBe('opencode: scripted 401 (HTTP 401) [exit 1]');
    expect(r.transient).toBeFalsy();
  });
});
