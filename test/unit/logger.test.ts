// Structured logs never carry secrets: a credential that passes through a log call, as a field, in
// a container's env, inside the message or in an error, comes out redacted; the rest stays readable.
import { Writable } from 'node:stream';
import { createLogger, redact, REDACTED, secretValuesOf, TemporalPinoLogger } from '../../telemetry/logger';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, destination, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const KEY = 'sk-ant-api03-Zq8xVv1nN2mM3bB4cC5dD6eE7fF8';

test('a key that passes through a log call comes out redacted, wherever it is', () => {
  const out = capture();
  const log = createLogger({ component: 'test', level: 'DEBUG', destination: out.destination, secrets: ['hunter2-literal-value'] });
  log.info({ apiKey: KEY, runId: 'r1' }, 'starting agent');
  log.info(
    { spec: { name: 'c1', env: { ANTHROPIC_BASE_URL: 'http://gw:8080', AGENTVISOR_GATEWAY_TOKEN: 'tok-1234567890' } } },
    'container',
  );
  log.warn(`provider refused the call with ${KEY} (Authorization: Bearer abcdefghijklmnop)`);
  log.error({ err: new Error(`failed with key ${KEY}`) }, 'boom');
  log.info({ note: 'password is hunter2-literal-value', proxy: 'http://tok-secret@gateway:8080' }, 'literal');

  const text = out.lines.join('\n');
  expect(text).not.toContain(KEY);
  expect(text).not.toContain('tok-1234567890');
  expect(text).not.toContain('abcdefghijklmnop');
  expect(text).not.toContain('hunter2-literal-value');
  expect(text).not.toContain('tok-secret');
  const [first, second, third, fourth, fifth] = out.records();
  expect(first).toMatchObject({ apiKey: REDACTED, runId: 'r1', msg: 'starting agent', component: 'test', level: 30 });
  expect(second).toMatchObject({ spec: { name: 'c1', env: { ANTHROPIC_BASE_URL: REDACTED, AGENTVISOR_GATEWAY_TOKEN: REDACTED } } });
  expect(third.msg).toBe(`provider refused the call with ${REDACTED} (Authorization: ${REDACTED})`);
  expect(JSON.stringify(fourth)).toContain(`failed with key ${REDACTED}`);
  expect(fifth).toMatchObject({ note: `password is ${REDACTED}`, proxy: `http://${REDACTED}@gateway:8080` });
});

test('the Temporal Runtime logger (SDK, workflow and activity logs) redacts too', () => {
  const out = capture();
  const logger = new TemporalPinoLogger(createLogger({ component: 'worker', level: 'INFO', destination: out.destination, secrets: [] }));
  logger.debug('below the level');
  logger.info('Activity failed', { activityType: 'runAgent', headers: { authorization: 'Bearer zzzzzzzzzzzz' }, message: `with ${KEY}` });
  const records = out.records();
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({
    msg: 'Activity failed',
    activityType: 'runAgent',
    headers: { authorization: REDACTED },
    message: `with ${REDACTED}`,
  });
});

test("the process's own credential variables are the literal secrets", () => {
  const env = {
    ANTHROPIC_API_KEY: 'a-long-anthropic-key',
    GITHUB_TOKEN: 'a-long-github-token',
    HOME: '/root',
    PATH: '/usr/bin',
    SHORT_KEY: 'x',
  };
  expect(secretValuesOf(env).sort()).toEqual(['a-long-anthropic-key', 'a-long-github-token']);
  expect(redact({ line: 'key=a-long-anthropic-key, home=/root' }, { secrets: secretValuesOf(env) })).toEqual({
    line: `key=${REDACTED}, home=/root`,
  });
});
