// Counters and budgets: a task's budget, the run's budget, and what the usage API reports.
import { Ledger } from '../../gateway/ledger';
import { DEFAULT_PRICES } from '../../gateway/prices';

const u = (inputTokens: number, outputTokens: number, cachedTokens = 0) => ({
  inputTokens,
  outputTokens,
  cachedTokens,
  cacheWriteTokens: 0,
});

describe('the ledger', () => {
  it('refuses a task once its token budget is crossed, not before', () => {
    const l = new Ledger(
      DEFAULT_PRICES,
      new Map([
        ['implement', { tokens: 200 }],
        ['other', undefined],
      ]),
    );
    expect(l.check('implement')).toBeUndefined();
    l.record('implement', u(100, 50), 'claude-haiku-4-5');
    expect(l.check('implement')).toBeUndefined();
    l.record('implement', u(40, 10), 'claude-haiku-4-5'); // exactly 200: not over
    expect(l.check('implement')).toBeUndefined();
    l.record('implement', u(1, 0), 'claude-haiku-4-5');
    expect(l.check('implement')).toBe('agentvisor: budget exceeded for task implement (tokens 201 > limit 200)');
    expect(l.check('other')).toBeUndefined();
    l.refuse('implement');
    const r = l.report();
    expect(r.tasks.implement).toMatchObject({
      inputTokens: 141,
      outputTokens: 60,
      totalTokens: 201,
      requests: 3,
      refused: 1,
      budgetExceeded: true,
      budget: { tokens: 200 },
    });
    expect(r.tasks.other).toMatchObject({ requests: 0, budgetExceeded: false });
    expect(r.run).toMatchObject({ totalTokens: 201, requests: 3, refused: 1, budgetExceeded: false });
  });

  it('counts error responses by status', () => {
    const l = new Ledger(DEFAULT_PRICES, new Map([['a', undefined]]));
    l.record('a', undefined, 'gpt-5', 429);
    l.record('a', undefined, 'gpt-5', 429);
    l.record('a', u(10, 5), 'gpt-5');
    l.record('a', undefined, 'gpt-5', 500);
    expect(l.report().tasks.a).toMatchObject({ requests: 4, errors: { 429: 2, 500: 1 } });
    expect(l.report().run.errors).toEqual({ 429: 2, 500: 1 });
  });

  it('prices usage and enforces dollar budgets per task and per run', () => {
    const l = new Ledger(
      DEFAULT_PRICES,
      new Map([
        ['a', { usd: 100 }],
        ['b', undefined],
      ]),
      { usd: 0.02 },
    );
    // gpt-4.1: $2 in, $8 out per million; 1500 in + 1000 out = $0.011
    expect(l.record('a', u(1500, 1000), 'gpt-4.1-2025-04-14').usd).toBeCloseTo(0.011, 10);
    expect(l.check('b')).toBeUndefined();
    l.record('a', u(1500, 1000), 'gpt-4.1');
    expect(l.check('a')).toBe('agentvisor: budget exceeded for the run (usd 0.0220 > limit 0.02); task a may make no more model calls');
    expect(l.check('b')).toMatch(/^agentvisor: budget exceeded for the run .*task b may make no more model calls$/);
    const r = l.report();
    expect(r.tasks.a.budgetExceeded).toBe(false);
    expect(r.run.budgetExceeded).toBe(true);
    expect(r.run.usd).toBeCloseTo(0.022, 10);
  });

  it('counts tokens of an unpriced model, at $0, and says so', () => {
    const l = new Ledger(DEFAULT_PRICES, new Map([['a', { tokens: 10 }]]));
    expect(l.record('a', u(20, 5), 'my-local-llama')).toEqual({ usd: 0, priced: false });
    expect(l.report().tasks.a).toMatchObject({ totalTokens: 25, usd: 0, unpricedRequests: 1, budgetExceeded: true });
    expect(l.record('a', undefined, undefined)).toEqual({ usd: 0, priced: true }); // an error response: nothing to price
  });

  it('counts cached tokens in the token budget', () => {
    const l = new Ledger(DEFAULT_PRICES, new Map([['a', { tokens: 100 }]]));
    l.record('a', u(10, 10, 90), 'gpt-5');
    expect(l.check('a')).toBe('agentvisor: budget exceeded for task a (tokens 110 > limit 100)');
  });
});
