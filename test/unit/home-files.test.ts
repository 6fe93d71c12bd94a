// An agent's `home` files: read next to the graph file, checked (paths, size, readable), refused
// where the harness writes its own or when they hold a credential's value, and put into HOME.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkAgents } from '../../client/preflight';
import { commandHarness } from '../../harnesses/command';
import { MAX_HOME_BYTES, parseGraph } from '../../graph/load';
import type { GraphSpec } from '../../graph/types';

const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-home-'));
mkdirSync(path.join(dir, 'conf'));
writeFileSync(path.join(dir, 'conf', 'settings.json'), '{"theme": "dark"}\n');
writeFileSync(path.join(dir, 'conf', 'leaky.md'), 'my key is sk-very-secret-value-1234\n');

const graphWith = (agent: string, extra = '') =>
  ['name: g', 'repo: .', 'agents:', `  a: ${agent}`, extra, 'tasks:', '  - { id: t, agent: a, prompt: hi }'].join('\n') + '\n';

function parsed(agent: string): GraphSpec {
  const r = parseGraph(graphWith(agent), dir);
  expect(r.problems).toEqual([]);
  return r.graph!;
}

describe('home files in the graph', () => {
  it('are read relative to the graph file, as path in HOME and content', () => {
    const g = parsed('{ harness: claude-code, home: { .claude/settings.json: conf/settings.json, notes/a.md: ./conf/leaky.md } }');
    expect(g.agents.a.home).toEqual([
      { path: '.claude/settings.json', content: '{"theme": "dark"}\n' },
      { path: 'notes/a.md', content: 'my key is sk-very-secret-value-1234\n' },
    ]);
    expect(parsed('{ harness: command, command: "true" }').agents.a.home).toBeUndefined();
  });

  it('refuse a path outside HOME, an unreadable file and too many bytes, naming them', () => {
    const problems = (agent: string) => parseGraph(graphWith(agent), dir).problems.map((p) => [p.path, p.message]);
    expect(problems('{ harness: command, command: "true", home: { ../x: conf/settings.json } }')).toEqual([
      ['agents.a.home.../x', 'expected a path inside HOME, such as .claude/settings.json (relative, no . or .. parts)'],
    ]);
    expect(problems('{ harness: command, command: "true", home: { /etc/x: conf/settings.json } }')[0][1]).toMatch(
      /^expected a path inside HOME/,
    );
    expect(problems('{ harness: command, command: "true", home: { a/./b: conf/settings.json } }')[0][1]).toMatch(
      /^expected a path inside HOME/,
    );
    expect(problems('{ harness: command, command: "true", home: { x: conf/missing.json } }')).toEqual([
      ['agents.a.home.x', `home file of agent "a" cannot be read: ${path.join(dir, 'conf', 'missing.json')} (ENOENT)`],
    ]);
    writeFileSync(path.join(dir, 'big.txt'), 'x'.repeat(MAX_HOME_BYTES + 1));
    expect(problems('{ harness: command, command: "true", home: { big: big.txt } }')).toEqual([
      [
        'agents.a.home',
        `the home files of agent "a" are ${MAX_HOME_BYTES + 1} bytes; at most ${MAX_HOME_BYTES} (they travel in the run's history)`,
      ],
    ]);
  });
});

describe('home files in preflight', () => {
  it("refuse a file the harness writes itself, and one holding a credential's value", () => {
    const g = parsed(
      '{ harness: claude-code, credentials: { anthropic: env:HOME_TEST_KEY }, home: { .claude/CLAUDE.md: conf/settings.json, notes/a.md: conf/leaky.md } }',
    );
    expect(checkAgents(g, { HOME_TEST_KEY: 'sk-very-secret-value-1234' })).toEqual([
      {
        path: 'agents.a.home',
        message: 'home file .claude/CLAUDE.md of agent "a" is one the claude-code harness writes itself; choose another path',
      },
      {
        path: 'agents.a.home',
        message:
          'home file notes/a.md of agent "a" holds the value of credential env:HOME_TEST_KEY: credentials go in credentials: (the gateway holds them), never in HOME',
      },
    ]);
    expect(checkAgents(g, { HOME_TEST_KEY: 'another-key-altogether' })).toHaveLength(1);
  });
});

describe('home files at run time', () => {
  it('a command agent copies them into $HOME before its command; without any, its command is unchanged', () => {
    const g = parsed('{ harness: command, command: "cat ~/notes/a.md", home: { notes/a.md: conf/settings.json } }');
    const input = { graphName: 'g', agent: g.agents.a, task: g.tasks[0] };
    expect(commandHarness.build(input).command).toEqual(['sh', '-c', 'cp -a /agentvisor/home/. "$HOME"/; cat ~/notes/a.md']);
    const plain = parsed('{ harness: command, command: "true" }');
    expect(commandHarness.build({ ...input, agent: plain.agents.a }).command).toEqual(['sh', '-c', 'true']);
  });
});
