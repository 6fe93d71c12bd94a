// The terminal a person sees, through a real pseudo-terminal (node-pty) on the real server, Docker
// engine and git: a failing run is a table and one line per failure, not the worker's logs (those
// go to the run's folder); `agentvisor worker` logs lines for people on a terminal and JSON when
// piped; and Ctrl-C during `run` says at once what happens, with and without a worker outside the
// CLI. What the terminal showed is kept in test-artifacts/ (CI keeps it).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runArtifactsDir } from '../../paths/data-folder';
import { runWorkerLogPath } from '../../paths/run-folder';
import { cli } from '../support/cli';
import { spawnWorker } from '../support/processes';
import { cliInTerminal, plain, type Terminal } from '../support/pty';
import { containersOfRun, makeRepo, repoState, writeGraph } from '../support/repo';
import { testClient } from '../support/temporal';

const ARTIFACTS = path.join(__dirname, '..', '..', 'test-artifacts');
const ID = `${process.pid}`;

function keep(name: string, term: Terminal): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(path.join(ARTIFACTS, name), term.text());
}

async function statusOf(runId: string): Promise<string> {
  const s = await cli('status', runId, '--json');
  return (JSON.parse(s.stdout) as { status: string }).status;
}

async function waitForStatus(runId: string, wanted: RegExp, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await statusOf(runId).catch(() => '');
    if (wanted.test(status) || Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, 500));
  }
}

const slowGraph = (repo: string, name: string, command: string) =>
  writeGraph(`
name: ${name}
repo: ${repo}
agents:
  w: { harness: command, command: "${command}" }
tasks:
  - { id: long, agent: w, prompt: wait }
`);

describe('the terminal', () => {
  test('a failing run: its table, why it failed (the end of its output) everywhere, and its worker log in the run folder', async () => {
    const repo = makeRepo();
    // the agent works, prints a hostile line (a window title, HTML, a markdown link), then fails on stderr
    const file = writeGraph(`
name: fails
repo: ${repo}
agents:
  bad:
    harness: command
    command: |
      for i in $(seq 1 30); do echo output line $i; done
      printf '\\033]0;pwned\\007<script>alert(1)</script> [click](http://evil.example)\\n'
      sleep 1
      echo 'boom: the widget broke' >&2
      exit 3
  ok: { harness: command, command: "echo fine > fine.txt" }
tasks:
  - { id: breaks, agent: bad, prompt: break }
  - { id: works, agent: ok, prompt: work, after: [breaks] }
`);
    const runId = `term-fail-${ID}`;
    const term = cliInTerminal(['run', file, '--id', runId], { cols: 100, rows: 30 });
    expect(await term.exited).toBe(1);
    keep('terminal-failing-run.txt', term);
    const text = term.text();
    expect(text).toMatch(/breaks\s+│ bad\s+│ failed/);
    expect(text).toContain('task breaks failed: agent exited with code 3');
    expect(text).toContain('  │ output line 30');
    expect(text).toContain('  │ boom: the widget broke');
    expect(text).toContain(`  whole log: agentvisor logs ${runId} breaks`);
    // the agent cannot retitle the terminal
    expect(term.output()).not.toContain('\x1b]0;pwned');
    // none of the worker's log lines, stacks or SDK frames
    expect(text).not.toContain('"level"');
    expect(text).not.toMatch(/ApplicationFailure|\n\s+at /);
    const workerLog = readFileSync(runWorkerLogPath(runArtifactsDir(process.env.AGENTVISOR_HOME!, runId)), 'utf8');
    expect(workerLog).toMatch(/"msg":"Workflow failed"/);
    expect(workerLog).toContain('agent exited with code 3');

    // status, --json
    const status = await cli('status', runId);
    expect(status.stdout).toContain('task breaks failed: agent exited with code 3');
    expect(status.stdout).toContain('  │ boom: the widget broke');
    expect(status.stdout).not.toContain('\x1b');
    const json = JSON.parse((await cli('status', runId, '--json')).stdout) as {
      tasks: { id: string; exitCode: number; outputTail: string[] }[];
    };
    const breaks = json.tasks.find((t) => t.id === 'breaks')!;
    expect(breaks.exitCode).toBe(3);
    expect(breaks.outputTail).toHaveLength(20);
    expect(breaks.outputTail.at(-1)).toBe('boom: the widget broke');
    expect(breaks.outputTail).toContain('output line 30');

    // the report (HTML and markdown, which is also the Temporal UI's details)
    const out = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-term-report-'));
    expect((await cli('report', runId, '--out', out)).code).toBe(0);
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).toContain('boom: the widget broke');
    expect(html).toContain(`agentvisor logs ${runId} breaks`);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).not.toContain('<script>');
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('**task breaks failed: agent exited with code 3**');
    expect(md).toContain('> boom: the widget broke');
    expect(md).toContain('\\[click\\]\\(http\\://evil.example\\)');
    expect(md).toContain(`whole log: \`agentvisor logs ${runId} breaks\``);

    // and the whole log
    expect((await cli('logs', runId, 'breaks')).stdout).toContain('output line 1\n');
  });

  test('a 30-task table fits a 24x80 terminal: every redraw within the screen, a header line, a count of the tasks left out', async () => {
    const repo = makeRepo();
    // the last one starts from two others' work: its diff in the report holds its own changes only
    const tasks = Array.from(
      { length: 30 },
      (_, i) =>
        `  - { id: task-${String(i).padStart(2, '0')}, agent: ${i % 10 ? 'w' : 'audit'}, prompt: p${i === 29 ? ', after: [task-01, task-02]' : ''} }`,
    );
    const file = writeGraph(`
name: thirty
repo: ${repo}
agents:
  w: { harness: command, command: "echo working on $AGENTVISOR_TASK with a progress line long enough to be cut at the edge of the screen; sleep 2; echo x > $AGENTVISOR_TASK.txt" }
  audit: { harness: command, readOnly: true, command: "echo 'finding: src/app.ts:12 has a TODO'" }
tasks:
${tasks.join('\n')}
`);
    const runId = `term-thirty-${ID}`;
    const term = cliInTerminal(['run', file, '--id', runId], { cols: 80, rows: 24 });
    expect(await term.exited).toBe(0);
    keep('terminal-30-tasks-24x80.txt', term);
    // each redraw moves up over the block drawn before and erases it: the blocks between two
    // redraws are what was on the screen, and each must fit it to be erased whole
    const frames = term
      .output()
      .split(/\x1b\[\d+A\x1b\[J/)
      .slice(1);
    expect(frames.length).toBeGreaterThan(2);
    for (const frame of frames) {
      const lines = plain(frame).split('\n');
      const table = lines.slice(0, lines.findIndex((l) => l.startsWith('└')) + 2);
      expect(table.length).toBeLessThanOrEqual(23);
      for (const line of table) expect([...line].length).toBeLessThanOrEqual(80);
    }
    const text = term.text();
    expect(text).toMatch(/thirty: running · \d+s · \d+ of 30 tasks done/);
    expect(text).toMatch(/… \d+ more: /);
    // no tokens or cost columns: these agents call no model
    expect(text).not.toMatch(/│ tokens/);
    // the auditors' findings, when they end
    expect(text).toContain('task task-00 succeeded; its findings');
    expect(text).toContain('  │ finding: src/app.ts:12 has a TODO');

    // the report embeds each task's diff and the end of its log: no links to this machine's files
    const out = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-term-report-'));
    expect((await cli('report', runId, '--out', out)).code).toBe(0);
    const html = readFileSync(path.join(out, 'report.html'), 'utf8');
    expect(html).not.toContain('file://');
    const section = html.slice(
      html.indexOf('<details id="task-task-01"'),
      html.indexOf('</details>', html.indexOf('<details id="task-task-01"')),
    );
    expect(section).toContain('task-01.txt | 1 +');
    expect(section).toContain('+x');
    expect(section).toContain('working on task-01 with a progress line');
    expect(html).toContain('<a href="#task-task-01">diff, log</a>');
    const last = html.slice(
      html.indexOf('<details id="task-task-29"'),
      html.indexOf('</details>', html.indexOf('<details id="task-task-29"')),
    );
    expect(last).toContain('task-29.txt | 1 +');
    expect(last).not.toContain('task-01.txt');
  });

  test('Ctrl-C with only the CLI as worker, on a terminal: it asks, and cancelling rolls the run back', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const runId = `term-ask-${ID}`;
    const term = cliInTerminal(['run', slowGraph(repo, 'asks', 'sleep 120'), '--id', runId]);
    await term.waitFor(/long\s+│ w\s+│ running/);
    term.type('\x03');
    await term.waitFor(/only worker of the run[\s\S]*Your choice \[c\/d\/k\]/, 5_000);
    term.type('c');
    await term.waitFor(/cancelling run term-ask-/, 5_000);
    expect(await term.exited).toBe(1);
    keep('terminal-ctrl-c-cancel.txt', term);
    expect(term.text()).toContain(`run ${runId}: cancelled`);
    expect(await statusOf(runId)).toBe('cancelled');
    expect(repoState(repo)).toEqual(before);
    expect(await containersOfRun(runId)).toEqual([]);
  });

  test('Ctrl-C with only the CLI as worker, not on a terminal: it cancels the run and waits for the rollback', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const runId = `term-pipe-${ID}`;
    const child = spawn(
      process.execPath,
      [path.join(__dirname, '..', '..', 'bin', 'agentvisor.js'), 'run', slowGraph(repo, 'piped', 'sleep 120'), '--id', runId],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!/task long \[w\] running/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(out).toMatch(/cancelling run term-pipe-\S+: its agents are stopped and its work is rolled back by this process/);
    expect(out).toContain(`run ${runId}: cancelled`);
    expect(repoState(repo)).toEqual(before);
    expect(await containersOfRun(runId)).toEqual([]);
  });

  test('a second Ctrl-C exits at once and says the run is left without a worker; a worker started later takes it', async () => {
    const repo = makeRepo();
    const orphan = `term-twice-${ID}`;
    const term = cliInTerminal(['run', slowGraph(repo, 'twice', 'sleep 3; echo done > done.txt'), '--id', orphan]);
    await term.waitFor(/long\s+│ w\s+│ running/);
    term.type('\x03');
    await term.waitFor(/Your choice \[c\/d\/k\]/, 5_000);
    term.type('\x03');
    expect(await term.exited).toBe(130);
    keep('terminal-ctrl-c-twice.txt', term);
    expect(term.text()).toMatch(/exiting at once: run term-twice-\S+ is still running, with no worker/);
    expect(term.text()).toContain('agentvisor worker');
    // the workflow is open, and nobody answers its status query until a worker starts
    const client = await testClient();
    expect((await client.workflow.getHandle(orphan).describe()).status.name).toBe('RUNNING');
    await client.connection.close();
    const status = await cli('status', orphan);
    expect({ code: status.code, stderr: status.stderr }).toEqual({
      code: 1,
      stderr: expect.stringMatching(
        /run term-twice-\S+ is running, but no worker answered for it \(.*\): start one with `agentvisor worker`/,
      ),
    });

    // `agentvisor worker` on a terminal: lines for people, not JSON
    const worker = cliInTerminal(['worker'], { env: { AGENTVISOR_LOG_LEVEL: 'INFO' } });
    try {
      await worker.waitFor(/\d\d:\d\d:\d\d INFO {2}Worker state changed {2}\(state=RUNNING\)/);
      expect(await waitForStatus(orphan, /completed|failed|cancelled/)).toBe('completed');

      // with a worker outside the CLI, the first Ctrl-C detaches at once and the run goes on
      const runId = `term-detach-${ID}`;
      const run = cliInTerminal(['run', slowGraph(repo, 'detaches', 'sleep 5; echo done > later.txt'), '--id', runId]);
      await run.waitFor(/long\s+│ w\s+│ running/);
      run.type('\x03');
      await run.waitFor(/detached: run term-detach-\S+ goes on \(a worker outside this process executes it\)/, 5_000);
      expect(await run.exited).toBe(130);
      keep('terminal-ctrl-c-detach.txt', run);
      expect(run.text()).toContain(`agentvisor status ${runId} -w`);
      expect(run.text()).toContain(`agentvisor cancel ${runId}`);
      expect(await waitForStatus(runId, /completed|failed|cancelled/)).toBe('completed');
      expect(worker.text()).not.toContain('"level"');
      keep('terminal-worker.txt', worker);
    } finally {
      worker.type('\x03');
      await worker.exited;
    }
  });

  test('agentvisor worker logs JSON lines when piped, and refuses an unknown --log-format', async () => {
    const worker = await spawnWorker(); // waits for the JSON line {"state":"RUNNING"}
    await worker.stop();
    const refused = await cli('worker', '--log-format', 'xml');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--log-format must be json or human, not "xml"');
    expect(existsSync(ARTIFACTS)).toBe(true);
  });
});
