// The gateway's config file: what it accepts, and the errors it gives for what it does not.
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadGatewayConfig, resolveGatewayConfig } from '../../gateway/config';
import { DEFAULT_PRICES } from '../../gateway/prices';

const TOKEN = 'tok-implement-0123456789abcdef';
const SECRET = 'sk-ant-api03-THE-REAL-SECRET-VALUE';

function base(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { host: '127.0.0.1', port: 0 },
    providers: { anthropic: { kind: 'anthropic', upstream: 'http://127.0.0.1:9/anth' }, openai: { kind: 'openai' } },
    tasks: {
      [TOKEN]: { taskId: 'implement', credentials: { anthropic: 'env:ANTHROPIC_KEY' }, allowHosts: ['registry.npmjs.org', '*.PyPI.org'] },
    },
    ...over,
  };
}

function problems(raw: unknown, env: NodeJS.ProcessEnv = { ANTHROPIC_KEY: SECRET }): string[] {
  try {
    resolveGatewayConfig(raw, { env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    // Never a secret or a token in an error.
    expect(e.message).not.toContain(SECRET);
    expect(e.message).not.toContain(TOKEN);
    return e.problems;
  }
  throw new Error('expected a ConfigError');
}

describe('gateway config', () => {
  it('accepts a good config and resolves credentials from the environment', () => {
    const c = resolveGatewayConfig(base({ runBudget: { usd: 5 }, prices: { 'my-model': { inputPerMTok: 1, outputPerMTok: 2 } } }), {
      env: { ANTHROPIC_KEY: ` ${SECRET}\n` },
    });
    expect(c.mode).toBe('live');
    const t = c.tasks.get(TOKEN)!;
    expect(t.taskId).toBe('implement');
    expect(t.credentials.get('anthropic')).toBe(SECRET);
    expect(t.allowHosts).toEqual(['registry.npmjs.org', '*.pypi.org']);
    expect(c.providers.get('anthropic')!.upstream.href).toBe('http://127.0.0.1:9/anth');
    expect(c.providers.get('anthropic')!.auth).toBe('x-api-key');
    expect(c.providers.get('openai')!.upstream.href).toBe('https://api.openai.com/');
    expect(c.providers.get('openai')!.auth).toBe('bearer');
    expect(c.prices['my-model']).toEqual({ inputPerMTok: 1, outputPerMTok: 2 });
    expect(c.prices['claude-sonnet-4-5']).toEqual(DEFAULT_PRICES['claude-sonnet-4-5']);
    expect(c.secrets).toEqual(expect.arrayContaining([SECRET, TOKEN]));
  });

  it('reads a credential from a file (file:/path or a bare absolute path)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-config-'));
    const f = path.join(dir, 'key');
    writeFileSync(f, SECRET + '\n');
    for (const ref of [`file:${f}`, f]) {
      const c = resolveGatewayConfig(base({ tasks: { [TOKEN]: { taskId: 'a', credentials: { anthropic: ref } } } }), { env: {} });
      expect(c.tasks.get(TOKEN)!.credentials.get('anthropic')).toBe(SECRET);
    }
    expect(problems(base({ tasks: { [TOKEN]: { taskId: 'a', credentials: { anthropic: path.join(dir, 'missing') } } } }))).toEqual([
      `tasks[taskId=a].credentials.anthropic: cannot read credential file ${path.join(dir, 'missing')} (ENOENT)`,
    ]);
  });

  it('names an unknown provider, an unset variable and every other problem at once', () => {
    const p = problems(
      base({
        tasks: {
          [TOKEN]: { taskId: 'implement', credentials: { anthropic: 'env:NOT_SET_ANYWHERE', mistral: 'MISTRAL_KEY' } },
          'tok-second-0123456789abcdef': { taskId: 'implement', credentials: {} },
        },
      }),
    );
    expect(p).toEqual([
      "tasks[taskId=implement].credentials.anthropic: environment variable NOT_SET_ANYWHERE is not set in the gateway's environment (or is empty)",
      'tasks[taskId=implement].credentials.mistral: unknown provider "mistral" (providers: anthropic, openai)',
      'tasks[taskId=implement]: duplicate taskId (one token per task)',
    ]);
  });

  it('refuses a secret written where a reference belongs, without repeating it', () => {
    for (const value of [SECRET, 'AIzaSyDxExampleExampleExample0123456']) {
      const p = problems(base({ tasks: { [TOKEN]: { taskId: 'a', credentials: { anthropic: value } } } }));
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(/^tasks\[taskId=a\]\.credentials\.anthropic: expected a reference/);
      expect(p[0]).not.toContain(value);
    }
  });

  it('refuses short tokens without printing them', () => {
    const p = problems(base({ tasks: { short: { taskId: 'a', credentials: {} } } }));
    expect(p).toEqual(['tasks[taskId=a]: a task token must be at least 16 characters of letters, digits, . _ ~ -']);
  });

  it('checks shapes: providers, URLs, modes, budgets, hosts, unknown keys', () => {
    expect(problems(base({ providers: { anthropic: { kind: 'claude' } } }))[0]).toMatch(/^providers\.anthropic\.kind: /);
    expect(problems(base({ providers: { anthropic: { kind: 'anthropic', upstream: 'ftp://x' } } }))).toEqual([
      'providers.anthropic.upstream: expected an http:// or https:// URL with no credentials, query or fragment',
    ]);
    expect(problems(base({ providers: { local: { kind: 'openai-compatible' } }, tasks: {} }))).toEqual([
      'providers.local.upstream: required for kind openai-compatible',
    ]);
    expect(problems(base({ mode: 'replay' }))).toEqual(['cassetteDir: required in replay mode']);
    expect(problems(base({ mode: 'rewind' }))[0]).toMatch(/^mode: /);
    expect(problems(base({ runBudget: { tokens: -1 } }))[0]).toMatch(/^runBudget\.tokens: /);
    expect(problems(base({ tasks: { [TOKEN]: { taskId: 'a', allowHosts: ['http://evil.example/'] } } }))).toEqual([
      'tasks[taskId=a].allowHosts[0]: expected host, *.suffix, host:port or [ipv6]',
    ]);
    expect(problems(base({ listen: { port: 70000 } }))[0]).toMatch(/^listen\.port: /);
    expect(problems(base({ extra: 1 }))[0]).toMatch(/extra/);
    expect(problems(base({ prices: { m: { inputPerMTok: 1 } } }))[0]).toMatch(/^prices\.m\.outputPerMTok: /);
  });

  it('needs no credentials in replay mode (it never calls upstream)', () => {
    const c = resolveGatewayConfig(base({ mode: 'replay', cassetteDir: '/tmp/c' }), { env: {} });
    expect(c.tasks.get(TOKEN)!.credentials.has('anthropic')).toBe(true);
  });

  it('loads a file: bad JSON and a missing file are named', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-config-'));
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{ "listen": ');
    expect(() => loadGatewayConfig(bad, {})).toThrow(`bad gateway config ${bad}:\n  - not valid JSON`);
    expect(() => loadGatewayConfig(path.join(dir, 'nope.json'), {})).toThrow(/cannot read the file \(ENOENT\)/);
    const good = path.join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(base({ mode: 'record', cassetteDir: 'cassettes' })));
    expect(loadGatewayConfig(good, { ANTHROPIC_KEY: SECRET }).cassetteDir).toBe(path.join(dir, 'cassettes'));
  });
});
