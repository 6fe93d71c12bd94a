// Bad input through the real CLI process: every case exits 2, says what is wrong on stderr, and
// leaves nothing behind (no ref or worktree in the repository, no container, no run folder).
// These all fail before a run starts, so no container is ever created here; dist/ must be built.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'agentvisor.js');
const UNSET_VAR = 'SOME_UNSET_VAR_XYZ';
const OURS = /bad-input|evil|three-agents/;

interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a user runs it, with this test's Temporal server and data folder (inherited env). */
function cli(...args: string[]): Promise<CliResult> {
  return cliWith({}, ...args);
}

/** The CLI with some more environment variables. */
function cliWith(extraEnv: Record<string, string>, ...args: string[]): Promise<CliResult> {
  const env = { ...process.env, ...extraEnv };
  delete env[UNSET_VAR];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

const home = () => process.env.AGENTVISOR_HOME!;
const listing = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

/**
 * What a run of one case could leave behind. Containers and run folders are named after the run id,
 * which starts with the graph's name (or is the --id given), so each case looks for its own: the
 * cases run concurrently, and other runs may use this Docker engine meanwhile. The last test checks
 * the whole data folder and every container of these graphs, for what a name cannot be told from.
 */
async function snapshot(repo: string | undefined, run: RegExp | undefined) {
  const isRepo = repo !== undefined && existsSync(path.join(repo, '.git'));
  return {
    repo: isRepo ? repoState(repo) : undefined,
    status: isRepo ? sh(repo, 'status', '--porcelain') : undefined,
    containers: run ? (await containersOfRun()).filter((name) => run.test(name)).sort() : undefined,
    runs: run ? listing(path.join(home(), 'runs')).filter((name) => run.test(name)) : undefined,
  };
}

/** Run ids made from a graph name: <name>-<yyyymmdd>-<hhmmss>-<hex>. */
const runOf = (graphName: string) => new RegExp(`${graphName}-\\d{8}-\\d{6}-[0-9a-f]{4}`);

/** Runs the CLI and checks: exit 2, nothing on stdout, an error on stderr, and no side effect. */
async function expectRefused(repo: string | undefined, run: RegExp | undefined, ...args: string[]): Promise<string> {
  return expectRefusedWith({}, repo, run, ...args);
}

async function expectRefusedWith(
  env: Record<string, string>,
  repo: string | undefined,
  run: RegExp | undefined,
  ...args: string[]
): Promise<string> {
  const before = await snapshot(repo, run);
  const r = await cliWith(env, ...args);
  const after = await snapshot(repo, run);
  expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
  expect(r.stderr).toMatch(/^error: /);
  expect(after).toEqual(before);
  return r.stderr;
}

/** Everything in the data folder, and every container a run of a graph here could have. */
async function globalState() {
  return {
    home: listing(home()),
    runs: listing(path.join(home(), 'runs')),
    containers: (await containersOfRun()).filter((name) => OURS.test(name)).sort(),
  };
}

/** A small valid graph with command agents; `tasks` and `agents` are YAML blocks (indented). */
function graphYaml(repo: string, opts: { name?: string; baseBranch?: string; agents?: string; tasks?: string } = {}): string {
  return [
    `name: ${opts.name ?? 'bad-input'}`,
    `repo: ${JSON.stringify(repo)}`,
    ...(opts.baseBranch ? [`baseBranch: ${opts.baseBranch}`] : []),
    'agents:',
    opts.agents ?? '  worker: { harness: command, command: "true" }',
    'tasks:',
    opts.tasks ?? '  - { id: first, agent: worker }\n  - { id: second, agent: worker, after: [first] }',
    '',
  ].join('\n');
}

// The cases run concurrently (each is a ~1 s process start), each on a repository of its own so that
// a run started by mistake shows up in the case that started it.
let initial: Awaited<ReturnType<typeof globalState>>;

// A top-level beforeAll runs before concurrent tests start.
beforeAll(async () => {
  expect(existsSync(path.join(ROOT, 'dist', 'client', 'cli.js'))).toBe(true); // npm test builds first
  expect(home()).toContain('agentvisor-test-');
  initial = await globalState();
});

describe('agentvisor run refuses bad input with exit 2 and leaves nothing behind', () => {
  it.concurrent(
    'a graph file that is valid to start with is accepted by validate (the cases below differ from it in one thing)',
    async () => {
      const repo = makeRepo();
      const file = writeGraph(graphYaml(repo));
      const r = await cli('validate', file);
      expect(r).toEqual({ status: 0, stdout: `${file}: ok\n`, stderr: '' });
    },
  );

  it.concurrent('malformed YAML: reports the line and column', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      [
        'name: bad-input-yaml', //                         1
        `repo: ${JSON.stringify(repo)}`, //                2
        'agents:', //                                      3
        '  worker:', //                                    4
        '    harness: command', //                         5
        '   command: "true"', //                           6  (one space short)
        'tasks:', //                                       7
        '  - { id: first, agent: worker }', //             8
        '',
      ].join('\n'),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-yaml'), 'run', file);
    expect(stderr).toBe(`error: ${file}:6:1: YAML: All mapping items must start at the same column\n`);
  });

  it.concurrent('schema error: names the path and its line', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, { name: 'bad-input-schema', tasks: '  - id: first\n    agent: worker\n    timeout: 10 parsecs' }),
    );
    // line 1 name, 2 repo, 3 agents:, 4 worker, 5 tasks:, 6 - id, 7 agent, 8 timeout
    const stderr = await expectRefused(repo, runOf('bad-input-schema'), 'run', file);
    expect(stderr).toBe(`error: ${file}:8:14: tasks.0.timeout: expected a duration such as 90s, 10m or 1h\n`);
  });

  it.concurrent('schema error: an unknown key is reported at its own line', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, { name: 'bad-input-key', agents: '  worker:\n    harness: command\n    command: "true"\n    colour: red' }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-key'), 'run', file);
    expect(stderr).toBe(`error: ${file}:7:5: agents.worker.colour: unknown key "colour"\n`);
  });

  it.concurrent('schema error: a credential given as the secret itself', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, {
        name: 'bad-input-secret',
        agents: '  worker:\n    harness: command\n    command: "true"\n    credentials: { anthropic: sk-ant-api03-secret }',
      }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-secret'), 'run', file);
    expect(stderr).toContain(
      `${file}:7:31: agents.worker.credentials.anthropic: expected a reference: env:VARIABLE, file:/path or (a Kubernetes worker) secret:NAME/KEY`,
    );
    expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it.concurrent('a dependency cycle: prints the cycle', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, {
        name: 'bad-input-cycle',
        tasks: [
          '  - { id: a, agent: worker, after: [c] }',
          '  - { id: b, agent: worker, after: [a] }',
          '  - { id: c, agent: worker, after: [b] }',
        ].join('\n'),
      }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-cycle'), 'run', file);
    expect(stderr).toBe(`error: ${file}:6:36: tasks.0.after: dependency cycle: a -> b -> c -> a\n`);
  });

  it.concurrent('an unknown agent: names it', async () => {
    const repo = makeRepo();
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-agent', tasks: '  - { id: first, agent: ghost-agent }' }));
    const stderr = await expectRefused(repo, runOf('bad-input-agent'), 'run', file);
    expect(stderr).toBe(`error: ${file}:6:25: tasks.0.agent: unknown agent "ghost-agent" (agents: worker)\n`);
  });

  it.concurrent('an unknown dependency: names it', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, {
        name: 'bad-input-dep',
        tasks: '  - { id: first, agent: worker }\n  - { id: second, agent: worker, after: [first, nowhere] }',
      }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-dep'), 'run', file);
    expect(stderr).toBe(`error: ${file}:7:49: tasks.1.after.1: unknown dependency "nowhere" of task "second"\n`);
  });

  it.concurrent('a duplicate task id', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, {
        name: 'bad-input-dup',
        tasks: '  - { id: twice, agent: worker }\n  - { id: other, agent: worker }\n  - { id: twice, agent: worker }',
      }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-dup'), 'run', file);
    expect(stderr).toBe(`error: ${file}:8:11: tasks.2.id: duplicate task id "twice" (first at tasks.0)\n`);
  });

  it.concurrent('an unsafe task id', async () => {
    const repo = makeRepo();
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-unsafe', tasks: '  - { id: "../x", agent: worker }' }));
    const stderr = await expectRefused(repo, runOf('bad-input-unsafe'), 'run', file);
    expect(stderr).toContain(`${file}:6:11: tasks.0.id: task id "../x" is not a safe branch/file name`);
  });

  it.concurrent('a repository path that does not exist', async () => {
    const missing = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentvisor-gone-')), 'no-such-repo');
    const file = writeGraph(graphYaml(missing, { name: 'bad-input-norepo' }));
    const stderr = await expectRefused(undefined, runOf('bad-input-norepo'), 'run', file);
    expect(stderr).toBe(`error: ${file}:2:7: repo: repository not found: ${missing}\n`);
    expect(existsSync(missing)).toBe(false);
  });

  it.concurrent('a path that is not a git repository', async () => {
    const plain = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-plain-'));
    writeFileSync(path.join(plain, 'file.txt'), 'not a repo\n');
    const file = writeGraph(graphYaml(plain, { name: 'bad-input-plain' }));
    const stderr = await expectRefused(undefined, runOf('bad-input-plain'), 'run', file);
    expect(stderr).toBe(`error: ${file}:2:7: repo: not a git repository (or it has no work tree): ${plain}\n`);
    expect(readdirSync(plain)).toEqual(['file.txt']);
  });

  it.concurrent('a base branch that does not exist', async () => {
    const repo = makeRepo();
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-branch', baseBranch: 'develop' }));
    const stderr = await expectRefused(repo, runOf('bad-input-branch'), 'run', file);
    expect(stderr).toBe(`error: ${file}:3:13: baseBranch: base branch "develop" does not exist in ${repo}\n`);
  });

  it.concurrent('uncommitted changes on the checked-out base branch: names the file', async () => {
    const dirty = makeRepo();
    writeFileSync(path.join(dirty, 'src', 'value.txt'), 'changed\n');
    const file = writeGraph(graphYaml(dirty, { name: 'bad-input-dirty' }));
    const stderr = await expectRefused(dirty, runOf('bad-input-dirty'), 'run', file);
    expect(stderr).toContain(
      `${file}:2:7: repo: working tree of ${dirty} has uncommitted changes on the base branch "main" (src/value.txt)`,
    );
    expect(readFileSync(path.join(dirty, 'src', 'value.txt'), 'utf8')).toBe('changed\n');
  });

  it.concurrent('a missing credential: names the variable', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, {
        name: 'bad-input-cred',
        agents: `  worker:\n    harness: command\n    command: "true"\n    credentials: { anthropic: env:${UNSET_VAR} }`,
      }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-cred'), 'run', file);
    expect(stderr).toBe(
      `error: ${file}:7:31: agents.worker.credentials.anthropic: missing credential: environment variable ${UNSET_VAR} is not set\n`,
    );
  });

  it.concurrent('a credential for an unknown provider', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, {
        name: 'bad-input-provider',
        agents: '  worker: { harness: command, command: "true", credentials: { openrouter: "env:HOME" } }',
      }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-provider'), 'run', file);
    expect(stderr).toContain('agents.worker.credentials.openrouter: unknown provider "openrouter" (providers: anthropic, openai, gemini)');
  });

  it.concurrent('a malformed replay cassette, and a missing cassette folder', async () => {
    const repo = makeRepo();
    const dir = require('node:fs').mkdtempSync(path.join(require('node:os').tmpdir(), 'agentvisor-cassettes-'));
    require('node:fs').writeFileSync(path.join(dir, 'first.yaml'), 'interactions: [ {{ not yaml');
    const agents = '  worker: { harness: command, command: "true", credentials: { anthropic: "env:HOME" } }';
    const bad = writeGraph(
      `gateway: { mode: replay, cassettes: ${JSON.stringify(dir)} }\n` + graphYaml(repo, { name: 'bad-input-cassette', agents }),
    );
    expect(await expectRefused(repo, runOf('bad-input-cassette'), 'run', bad)).toMatch(
      /gateway\.cassettes: malformed cassette first\.yaml/,
    );
    const missing = writeGraph(
      `gateway: { mode: replay, cassettes: /nonexistent/cassettes }\n` + graphYaml(repo, { name: 'bad-input-cassette2', agents }),
    );
    expect(await expectRefused(repo, runOf('bad-input-cassette2'), 'run', missing)).toContain(
      'cassette folder not found: /nonexistent/cassettes',
    );
  });

  it.concurrent('an agent CLI without the credential of its provider', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, {
        name: 'bad-input-harness',
        agents: '  claude:\n    harness: claude-code',
        tasks: '  - { id: first, agent: claude }',
      }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-harness'), 'run', file);
    expect(stderr).toBe(
      `error: ${file}:5:5: agents.claude: missing credential: agent "claude" (claude-code) calls anthropic; add credentials: { anthropic: env:VARIABLE } (the gateway holds it, the agent never sees it)\n`,
    );
  });

  it.concurrent('several problems at once: all are reported', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, {
        name: 'bad-input-many',
        baseBranch: 'develop',
        agents: `  worker: { harness: command, command: "true", credentials: { anthropic: "env:${UNSET_VAR}" } }`,
      }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-many'), 'run', file);
    expect(stderr.split('\n').filter(Boolean)).toEqual([
      `error: ${file}:3:13: baseBranch: base branch "develop" does not exist in ${repo}`,
      `error: ${file}:5:74: agents.worker.credentials.anthropic: missing credential: environment variable ${UNSET_VAR} is not set`,
    ]);
  });

  it.concurrent('an unknown option is a usage error (even on a graph that would run)', async () => {
    const repo = makeRepo();
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-option' }));
    const stderr = await expectRefused(repo, runOf('bad-input-option'), 'run', '--frobnicate', file);
    expect(stderr).toBe(`error: unknown option '--frobnicate'\n`);
  });

  it.concurrent('a missing argument is a usage error', async () => {
    const stderr = await expectRefused(undefined, undefined, 'run');
    expect(stderr).toBe(`error: missing required argument 'file'\n`);
  });

  it.concurrent('an unknown command is a usage error', async () => {
    const stderr = await expectRefused(undefined, undefined, 'frobnicate');
    expect(stderr).toContain(`error: unknown command 'frobnicate'`);
  });

  it.concurrent('an unsafe run id (on a graph that would run)', async () => {
    const repo = makeRepo();
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-runid' }));
    const stderr = await expectRefused(repo, /evil/, 'run', '--id', '../evil', file);
    expect(stderr).toBe(`error: ${file}: run id "../evil" is not a safe branch/file name (letters, digits, - and _)\n`);
  });

  it.concurrent('a graph file that does not exist', async () => {
    const missing = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentvisor-graph-')), 'missing.yaml');
    const stderr = await expectRefused(undefined, undefined, 'run', missing);
    expect(stderr).toBe(`error: ${missing}: cannot read graph file: ENOENT\n`);
  });
});

describe('coordination settings and commands refuse bad input with exit 2', () => {
  it.concurrent('shared workspace access that is not rw, ro or none', async () => {
    const repo = makeRepo();
    const file = writeGraph(
      graphYaml(repo, { name: 'bad-input-shared', agents: '  worker: { harness: command, command: "true", shared: write }' }),
    );
    const stderr = await expectRefused(repo, runOf('bad-input-shared'), 'run', file);
    expect(stderr).toMatch(new RegExp(`^error: ${file}:4:56: agents\\.worker\\.shared: .*"rw".*"ro".*"none"`));
  });

  it.concurrent('an approval gate with a malformed timeout or outcome, and a task named like the merge gate', async () => {
    const repo = makeRepo();
    const tasks =
      '  - { id: first, agent: worker, approval: { timeout: soon } }\n  - { id: merge, agent: worker, approval: { onTimeout: maybe } }';
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-gate', tasks }) + 'merge:\n  approval: {}\n');
    const stderr = await expectRefused(repo, runOf('bad-input-gate'), 'run', file);
    expect(stderr).toContain(`${file}:6:54: tasks.0.approval.timeout: expected a duration such as 90s, 10m or 1h`);
    expect(stderr).toContain(`${file}:7:56: tasks.1.approval.onTimeout: Invalid option: expected one of "approve"|"reject"`);
    const named = writeGraph(
      graphYaml(repo, { name: 'bad-input-gate2', tasks: '  - { id: merge, agent: worker }' }) + 'merge:\n  approval: {}\n',
    );
    expect(await expectRefused(repo, runOf('bad-input-gate2'), 'run', named)).toBe(
      `error: ${named}:6:11: tasks.0.id: task id "merge" is taken by the merge's approval gate; rename the task\n`,
    );
  });

  it.concurrent('proposals from an unknown agent, or from one that cannot write them, or using an unknown agent', async () => {
    const repo = makeRepo();
    const agents = '  worker: { harness: command, command: "true", shared: ro }';
    const file = writeGraph(
      graphYaml(repo, { name: 'bad-input-proposals', agents }) + 'proposals: { from: [ghost, worker], maxTasks: 0 }\n',
    );
    const stderr = await expectRefused(repo, runOf('bad-input-proposals'), 'run', file);
    expect(stderr).toContain('proposals.maxTasks: Too small');
    const file2 = writeGraph(
      graphYaml(repo, { name: 'bad-input-proposals2', agents }) + 'proposals: { from: [ghost, worker], agents: [nobody] }\n',
    );
    expect((await expectRefused(repo, runOf('bad-input-proposals2'), 'run', file2)).split('\n').filter(Boolean)).toEqual([
      `error: ${file2}:8:21: proposals.from.0: unknown agent "ghost" (agents: worker)`,
      `error: ${file2}:8:28: proposals.from.1: agent "worker" may propose tasks but cannot write them: give it shared: rw (its drop folder is /shared/proposals)`,
      `error: ${file2}:8:46: proposals.agents.0: unknown agent "nobody" (agents: worker)`,
    ]);
  });

  it.concurrent('conflict resolution without a resolver, with an unknown or read-only one, or a resolver without resolve', async () => {
    const repo = makeRepo();
    const agents = '  worker: { harness: command, command: "true" }\n  auditor: { harness: command, command: "true", readOnly: true }';
    const cases: [string, string][] = [
      ['merge: { onConflict: resolve }', 'merge.onConflict: onConflict: resolve needs a resolver agent (merge.resolver)'],
      ['merge: { onConflict: resolve, resolver: ghost }', 'merge.resolver: unknown agent "ghost" (agents: worker, auditor)'],
      [
        'merge: { onConflict: resolve, resolver: auditor }',
        'merge.resolver: resolver agent "auditor" is read-only: it could not edit the conflicted files',
      ],
      [
        'merge: { onConflict: retry, resolver: worker }',
        'merge.resolver: merge.resolver is set but onConflict is retry (use onConflict: resolve)',
      ],
      ['merge: { onConflict: rebase }', 'merge.onConflict: Invalid option'],
    ];
    for (const [i, [merge, message]] of cases.entries()) {
      const file = writeGraph(graphYaml(repo, { name: `bad-input-resolve${i}`, agents }) + merge + '\n');
      const stderr = await expectRefused(repo, runOf(`bad-input-resolve${i}`), 'run', file);
      expect(stderr).toContain(`${file}:9:`);
      expect(stderr).toContain(message);
    }
  });

  it.concurrent('add: a malformed tasks file (before any run is asked), a run that does not exist', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-add-'));
    const bad = path.join(dir, 'tasks.yaml');
    writeFileSync(bad, 'tasks:\n  - { id: x, agent: worker, colour: red }\n');
    expect(await expectRefused(undefined, undefined, 'add', 'no-such-run', bad)).toBe(
      `error: ${bad}:2:29: tasks.0.colour: unknown key "colour"\n`,
    );
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, '- { id: x, agent: worker }\n');
    expect(await expectRefused(undefined, undefined, 'add', 'no-such-run', good)).toBe('error: no run with id "no-such-run"\n');
  });

  it.concurrent('approve or reject: a run that does not exist; reject without a reason', async () => {
    expect(await expectRefused(undefined, undefined, 'approve', 'no-such-run')).toBe('error: no run with id "no-such-run"\n');
    expect(await expectRefused(undefined, undefined, 'reject', 'no-such-run', 'merge')).toBe(
      "error: required option '--reason <text>' not specified\n",
    );
  });
});

describe('resource limits refuse bad values with exit 2', () => {
  it.concurrent('in the graph: a disk or memory too small or malformed, a process limit too low', async () => {
    const repo = makeRepo();
    const agents = '  worker: { harness: command, command: "true", limits: { disk: 1k, memory: lots, pids: 2 } }';
    const file = writeGraph(
      graphYaml(repo, { name: 'bad-input-limits', agents }) + 'evaluate: { command: "true", limits: { disk: 10 gigs } }\n',
    );
    const stderr = await expectRefused(repo, runOf('bad-input-limits'), 'run', file);
    expect(stderr).toContain(`${file}:4:`);
    expect(stderr).toContain('agents.worker.limits.disk: expected at least 16m');
    expect(stderr).toContain('agents.worker.limits.memory: expected a size such as 512m or 2g');
    expect(stderr).toContain('agents.worker.limits.pids: Too small');
    expect(stderr).toContain('evaluate.limits.disk: expected a size such as 512m or 2g');
  });

  it.concurrent("the worker's flags", async () => {
    expect(await expectRefused(undefined, undefined, 'worker', '--memory', 'lots', '--cpus', '0', '--pids', '1.5', '--disk', '5m')).toBe(
      [
        'error: --memory "lots" is not a memory limit: expected a size of at least 16m, such as 512m or 4g',
        'error: --disk "5m" is not a disk limit: expected a size of at least 16m, such as 512m or 4g, or off',
        'error: --cpus "0" is not a CPU limit: expected a number of cores such as 0.5 or 2',
        'error: --pids "1.5" is not a process limit: expected a whole number of at least 8, such as 512',
        '',
      ].join('\n'),
    );
  });

  it.concurrent('the environment of the worker a run starts, before anything is made', async () => {
    const repo = makeRepo();
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-limit-env' }));
    const stderr = await expectRefusedWith({ AGENTVISOR_LIMIT_DISK: 'huge' }, repo, runOf('bad-input-limit-env'), 'run', file);
    expect(stderr).toBe(
      'error: AGENTVISOR_LIMIT_DISK "huge" is not a disk limit: expected a size of at least 16m, such as 512m or 4g, or off\n',
    );
  });
});

describe('agentvisor validate', () => {
  it.concurrent('says ok for the example graph on a fresh sample repository, and creates nothing', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-example-'));
    const sample = path.join(dir, 'sample-repo');
    execFileSync(path.join(ROOT, 'scripts', 'make-sample-repo.sh'), [sample], { stdio: 'ignore' });
    const example = readFileSync(path.join(ROOT, 'examples', 'three-agents', 'graph.yaml'), 'utf8');
    const text = example.replace(/^repo: .*$/m, `repo: ${JSON.stringify(sample)}`);
    expect(text).not.toBe(example);
    const file = writeGraph(text);

    const before = await snapshot(sample, runOf('three-agents'));
    const r = await cli('validate', file);
    expect(await snapshot(sample, runOf('three-agents'))).toEqual(before);
    expect(r).toEqual({ status: 0, stdout: `${file}: ok\n`, stderr: '' });
  });

  it.concurrent('exits 2 and names the problem for a bad graph', async () => {
    const repo = makeRepo();
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-validate', tasks: '  - { id: first, agent: nobody }' }));
    const stderr = await expectRefused(repo, runOf('bad-input-validate'), 'validate', file);
    expect(stderr).toBe(`error: ${file}:6:25: tasks.0.agent: unknown agent "nobody" (agents: worker)\n`);
  });

  it.concurrent('exits 2 for a repository problem too', async () => {
    const repo = makeRepo();
    const file = writeGraph(graphYaml(repo, { name: 'bad-input-validate-branch', baseBranch: 'develop' }));
    const stderr = await expectRefused(repo, runOf('bad-input-validate-branch'), 'validate', file);
    expect(stderr).toContain('base branch "develop" does not exist');
  });
});

test('after all of them: nothing new in the data folder, no container of these graphs', async () => {
  expect(await globalState()).toEqual(initial);
});
