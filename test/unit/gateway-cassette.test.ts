// Cassettes (hand-written and recorded), replay matching, redaction; and the egress allowlist rules.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CassetteError,
  CassetteStore,
  loadCassette,
  recordableHeaders,
  redact,
  renderResponse,
  type Interaction,
} from '../../gateway/cassette';
import { hostAllowed, parseAuthority } from '../../gateway/egress-proxy';
import { usageFromResponse } from '../../gateway/usage';

const HAND_WRITTEN = `# written by hand
version: 1
task: implement
interactions:
  - request: { provider: anthropic, path: /v1/messages }
    response:
      events:
        - event: message_start
          data: { type: message_start, message: { model: claude-haiku-4-5, usage: { input_tokens: 10, output_tokens: 1 } } }
        - event: message_delta
          data: { type: message_delta, delta: { stop_reason: end_turn }, usage: { output_tokens: 7 } }
        - event: message_stop
          data: '{"type": "message_stop"}'
  - request: { provider: openai, method: post, path: /v1/chat/completions }
    response:
      status: 200
      headers: { x-request-id: req_1 }
      body: { id: c1, choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } }
  - request: { provider: anthropic, path: /v1/messages }
    response: { status: 529, bodyText: "overloaded" }
`;

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-cassette-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('cassettes', () => {
  it('loads a hand-written YAML cassette and renders its responses', () => {
    const dir = dirWith({ 'implement.yaml': HAND_WRITTEN });
    const c = loadCassette(path.join(dir, 'implement.yaml'));
    expect(c.interactions).toHaveLength(3);
    expect(c.interactions[1].request.method).toBe('POST');
    const sse = renderResponse(c.interactions[0].response);
    expect(sse.contentType).toBe('text/event-stream');
    expect(sse.body).toBe(
      'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":1}}}\n\n' +
        'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n' +
        'event: message_stop\ndata: {"type": "message_stop"}\n\n',
    );
    expect(usageFromResponse('anthropic', sse.contentType, sse.body)).toMatchObject({ inputTokens: 10, outputTokens: 7 });
    expect(renderResponse(c.interactions[1].response)).toEqual({
      contentType: 'application/json',
      body: '{"id":"c1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}',
    });
    expect(renderResponse(c.interactions[2].response)).toEqual({ contentType: 'text/plain', body: 'overloaded' });
  });

  it('refuses malformed cassettes, naming the file and the place', () => {
    const cases: [string, RegExp][] = [
      ['interactions: [ { request: ', /: .*(flow|end|collection|Missing)/i],
      [
        'interactions:\n  - request: { provider: anthropic, path: v1/messages }\n    response: {}\n',
        /interactions\[0\]\.request\.path: expected a path starting with \//,
      ],
      [
        'interactions:\n  - request: { provider: anthropic, path: /v1/messages }\n    response: { body: {}, events: [] }\n',
        /interactions\[0\]\.response: a response has at most one of events, body and bodyText/,
      ],
      [
        'interactions:\n  - request: { provider: anthropic, path: /x }\n    response: { stauts: 200 }\n',
        /interactions\[0\]\.response: .*stauts/,
      ],
      ['version: 2\n', /version: /],
    ];
    for (const [text, re] of cases) {
      const dir = dirWith({ 'bad.yaml': text });
      const file = path.join(dir, 'bad.yaml');
      let err: unknown;
      try {
        loadCassette(file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CassetteError);
      expect((err as Error).message).toContain(`bad cassette ${file}: `);
      expect((err as Error).message).toMatch(re);
    }
    const dir = dirWith({ 'implement.json': '{"interactions": [' });
    expect(() => new CassetteStore(dir, ['implement'], [])).toThrow(`bad cassette ${path.join(dir, 'implement.json')}`);
  });

  it('replays in order per route, preferring an identical request body, and says when it runs out', () => {
    const dir = dirWith({ 'implement.yaml': HAND_WRITTEN });
    const s = new CassetteStore(dir, ['implement', 'other'], []);
    const sha = 'a'.repeat(64);
    const first = s.next('implement', 'anthropic', 'POST', '/v1/messages', sha);
    expect(first).toMatchObject({ ok: true, index: 0 });
    expect(s.next('implement', 'openai', 'POST', '/v1/chat/completions', sha)).toMatchObject({ ok: true, index: 1 });
    expect(s.next('implement', 'anthropic', 'POST', '/v1/messages?beta=true', sha)).toMatchObject({ ok: true, index: 2 });
    const out = s.next('implement', 'anthropic', 'POST', '/v1/messages', sha);
    expect(out.ok).toBe(false);
    expect(!out.ok && out.message).toBe(
      `agentvisor gateway (replay): the cassette of task implement (${path.join(dir, 'implement.yaml')}) has no unused response for POST /v1/messages on provider anthropic (2 recorded, all used; 0 unused in all)`,
    );
    const none = s.next('other', 'anthropic', 'POST', '/v1/messages', sha);
    expect(!none.ok && none.message).toMatch(
      /^agentvisor gateway \(replay\): no cassette for task other \(looked for .*other\.yaml, \.yml, \.json\)$/,
    );

    const withSha = dirWith({
      't.yaml': `interactions:\n  - request: { provider: p, path: /x, bodySha256: '${'1'.repeat(64)}' }\n    response: { bodyText: one }\n  - request: { provider: p, path: /x, bodySha256: '${'2'.repeat(64)}' }\n    response: { bodyText: two }\n`,
    });
    const s2 = new CassetteStore(withSha, ['t'], []);
    expect(s2.next('t', 'p', 'POST', '/x', '2'.repeat(64))).toMatchObject({ ok: true, index: 1 });
    expect(s2.next('t', 'p', 'POST', '/x', '9'.repeat(64))).toMatchObject({ ok: true, index: 0 });

    // a side request with another model (a title) takes the interaction naming its model, not the next turn
    const withModels = dirWith({
      't.yaml': `interactions:\n  - request: { provider: p, path: /x, model: big }\n    response: { bodyText: turn1 }\n  - request: { provider: p, path: /x, model: small }\n    response: { bodyText: title }\n  - request: { provider: p, path: /x }\n    response: { bodyText: any }\n`,
    });
    const s3 = new CassetteStore(withModels, ['t'], []);
    expect(s3.next('t', 'p', 'POST', '/x', sha, 'small')).toMatchObject({ ok: true, index: 1 });
    expect(s3.next('t', 'p', 'POST', '/x', sha, 'big')).toMatchObject({ ok: true, index: 0 });
    expect(s3.next('t', 'p', 'POST', '/x', sha, 'big')).toMatchObject({ ok: true, index: 2 }); // none names it: in order
  });

  it('records in request start order, appends to an existing cassette, redacts secrets, and reloads', () => {
    const dir = dirWith({ 'implement.yaml': HAND_WRITTEN });
    const s = new CassetteStore(dir, ['implement', 'fresh'], ['SECRET-VALUE-1234']);
    const ia = (text: string): Interaction => ({
      request: { provider: 'anthropic', method: 'POST', path: '/v1/messages', stream: false },
      response: {
        status: 200,
        headers: recordableHeaders({ 'content-type': 'application/json', 'set-cookie': ['a=b'], 'x-api-key': 'k', 'request-id': 'r' }),
        bodyText: text,
      },
    });
    const t1 = s.ticket();
    const t2 = s.ticket();
    s.append('fresh', t2, ia('second, finished first SECRET-VALUE-1234'));
    const file = s.append('fresh', t1, ia('first'));
    expect(file).toBe(path.join(dir, 'fresh.yaml'));
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('SECRET-VALUE-1234');
    expect(text).not.toContain('set-cookie');
    expect(text).not.toContain('x-api-key');
    const back = loadCassette(file);
    expect(back.interactions.map((i) => i.response.bodyText)).toEqual(['first', 'second, finished first REDACTED']);
    expect(back.interactions[0].response.headers).toEqual({ 'content-type': 'application/json', 'request-id': 'r' });
    s.append('implement', s.ticket(), ia('appended'));
    expect(loadCassette(path.join(dir, 'implement.yaml')).interactions).toHaveLength(4);
  });

  it('redacts inside nested values and keys', () => {
    expect(redact({ a: ['x tok123456 y'], tok123456: 1 }, ['tok123456'])).toEqual({ a: ['x REDACTED y'], REDACTED: 1 });
  });
});

describe('the egress allowlist', () => {
  it('matches exact hosts, *.suffix subdomains and ports; default deny', () => {
    const list = ['registry.npmjs.org', '*.pypi.org', '127.0.0.1:8080', '[::1]'];
    expect(hostAllowed(list, 'registry.npmjs.org', 443)).toBe(true);
    expect(hostAllowed(list, 'REGISTRY.npmjs.org.', 443)).toBe(true);
    expect(hostAllowed(list, 'evil.registry.npmjs.org', 443)).toBe(false);
    expect(hostAllowed(list, 'files.pypi.org', 443)).toBe(true);
    expect(hostAllowed(list, 'pypi.org', 443)).toBe(false);
    expect(hostAllowed(list, 'evilpypi.org', 443)).toBe(false);
    expect(hostAllowed(list, '127.0.0.1', 8080)).toBe(true);
    expect(hostAllowed(list, '127.0.0.1', 8081)).toBe(false);
    expect(hostAllowed(list, '[::1]', 9999)).toBe(true);
    expect(hostAllowed([], 'registry.npmjs.org', 443)).toBe(false);
  });
  it('parses CONNECT targets', () => {
    expect(parseAuthority('example.com:443', 443)).toEqual({ host: 'example.com', port: 443 });
    expect(parseAuthority('[::1]:8443', 443)).toEqual({ host: '[::1]', port: 8443 });
    expect(parseAuthority('Example.COM', 443)).toEqual({ host: 'example.com', port: 443 });
    expect(parseAuthority('user@example.com:443', 443)).toBeUndefined();
    expect(parseAuthority('example.com:99999', 443)).toBeUndefined();
  });
});
