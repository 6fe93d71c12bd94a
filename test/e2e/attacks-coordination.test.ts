// Hostile agents against the coordination features, on real Temporal, Docker and git: one hostile
// `command` agent per attack, each judged by evidence on the host (the run's report and result,
// files on the host, branches, the Temporal UI's details as the client reads them), never by what
// the agent prints.
// - a proposal naming a more privileged agent is refused, and no such task runs;
// - a proposal cannot skip the approval gate of the agent it names, nor bring its own gate;
// - symlinks, hard links and FIFOs planted in the drop folder and in /shared are not followed or
//   read by the host (the proposals' reader, the rollback);
// - markup, HTML and terminal escapes in file names and proposals show as text in the UI's
//   details, in `agentvisor status` and in the report;
// - a read-only shared workspace and the home files mount cannot be written.
import type { Client } from '@temporalio/client';
import { chromium } from 'playwright-core';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { getRunReport, startRun } from '../../client/api';
import { loadConfig } from '../../client/config';
import type { RunReport } from '../../contract/run-types';
import { cli } from '../support/cli';
import { containersOfRun, makeRepo, sh, writeGraph } from '../support/repo';
import { runToEnd, testClient, withRealWorker } from '../support/temporal';
import { until } from '../support/wait';
import { waitForFrameText } from '../support/ui-frames';

const logOf = (r: RunReport, taskId: string) => path.join(r.artifactsDir, 'logs', `${taskId}.log`);
const taskBranches = (repo: string, runId: string) =>
  sh(repo, 'branch', '--list', '--format=%(refname:short)', `agentvisor-tasks/${runId}/*`).split('\n').filter(Boolean).sort();
const filesOn = (repo: string, ref: string) => sh(repo, 'ls-tree', '-r', '--name-only', ref).split('\n').filter(Boolean).sort();
const proposal = (r: RunReport, file: string) => r.proposals?.find((p) => p.file === file);
/** Control characters a terminal acts on (tab and newline aside). */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

async function start(file: string, runId: string): Promise<void> {
  const started = await startRun(file, { config: loadConfig(), worker: 'none', runId });
  await started.client.connection.close();
}

async function waitFor(client: Client, runId: string, what: string, cond: (r: RunReport) => boolean): Promise<RunReport> {
  let report: RunReport | undefined;
  await until(what, async () => cond((report = await getRunReport(client, runId, loadConfig()))), 90_000);
  return report!;
}

/**
 * Opens a workflow's User Metadata in the real Temporal UI (headless Chromium) and waits until its
 * markdown shows `text` as text; returns the images, links and scripts the rendered markdown holds,
 * and the dialogs (alert) that opened.
 */
async function uiMetadata(workflowId: string, text: string): Promise<{ elements: string[]; dialogs: string[] }> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1150 } });
    const dialogs: string[] = [];
    page.on('dialog', (d) => void (dialogs.push(d.message()), d.dismiss()));
    await page.goto(`${process.env.AGENTVISOR_UI_URL}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
    await page.getByRole('tab', { name: /User Metadata/ }).click();
    await waitForFrameText(page, text);
    const elements: string[] = [];
    for (const frame of page.frames().filter((f) => f !== page.mainFrame())) {
      for (const el of await frame.locator('img, a, script, iframe').all()) elements.push(await el.evaluate((e) => e.outerHTML));
    }
    return { elements, dialogs };
  } finally {
    await browser.close();
  }
}

async function finalReport(client: Client, runId: string): Promise<RunReport> {
  await client.workflow
    .getHandle(runId)
    .result()
    .catch(() => undefined);
  return getRunReport(client, runId, loadConfig());
}

describe('a hostile agent stays in its box', () => {
  test('a proposal naming a more privileged agent is refused, and no such task runs', async () => {
    const repo = makeRepo();
    const file = writeGraph(`
name: attack-privilege
repo: ${repo}
agents:
  intern:
    harness: command
    shared: rw
    command: |
      [ "$AGENTVISOR_TASK" = work ] || { echo "$AGENTVISOR_TASK" > "$AGENTVISOR_TASK.txt"; exit 0; }
      printf 'id: sneak\\nagent: admin\\nprompt: rotate the keys\\n' > /shared/proposals/1-sneak.yaml
      printf 'tasks:\\n  - { id: cover, agent: intern }\\n  - { id: sneak2, agent: admin, after: [cover] }\\n' > /shared/proposals/2-mixed.yaml
      printf 'id: own\\nagent: intern\\n' > /shared/proposals/3-own.yaml
  admin:
    harness: command
    command: "echo owned > ADMIN-WAS-HERE.txt"
proposals: { from: [intern], maxTasks: 5 }
tasks:
  - { id: work, agent: intern }
`);
    const runId = 'e2e-attack-privilege';
    const report = await withRealWorker(() => runToEnd(file, { runId }));
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    // the intern's own agent: accepted and run; the admin's: refused, alone or next to a harmless task
    expect(proposal(report, '3-own.yaml')).toMatchObject({ status: 'accepted', tasks: ['own'] });
    expect(proposal(report, '1-sneak.yaml')).toEqual({
      by: 'work',
      file: '1-sneak.yaml',
      tasks: ['sneak'],
      status: 'refused',
      reason: `task "sneak" uses agent admin, which proposed tasks may not use (without proposals.agents, only the proposing task's own agent intern)`,
    });
    expect(proposal(report, '2-mixed.yaml')).toMatchObject({
      status: 'refused',
      reason: expect.stringContaining('task "sneak2" uses agent admin'),
    });
    expect(report.tasks.map((t) => [t.id, t.agent, t.status])).toEqual([
      ['work', 'intern', 'succeeded'],
      ['own', 'intern', 'succeeded'],
    ]);
    // on the host: no branch, no log and no work of the admin's
    expect(taskBranches(repo, runId)).toEqual([`agentvisor-tasks/${runId}/own`, `agentvisor-tasks/${runId}/work`]);
    expect(filesOn(repo, report.integrationBranch)).toEqual(['README.md', 'own.txt', 'src/value.txt']);
    for (const t of ['sneak', 'sneak2', 'cover']) expect(existsSync(logOf(report, t))).toBe(false);
    const status = await cli('status', runId);
    expect(status.stdout).toContain('proposal 1-sneak.yaml of work (sneak): refused: task "sneak" uses agent admin');
  });

  test("a proposal cannot skip its agent's approval gate, nor bring a gate of its own", async () => {
    const repo = makeRepo();
    const file = writeGraph(`
name: attack-gate
repo: ${repo}
shared: { keep: true }
agents:
  gatecrasher:
    harness: command
    shared: rw
    command: |
      printf 'id: deploy-now\\nagent: deployer\\n' > /shared/proposals/1-deploy-now.yaml
      printf 'id: deploy-fast\\nagent: deployer\\napproval: { timeout: 1s, onTimeout: approve }\\n' > /shared/proposals/2-deploy-fast.yaml
  deployer:
    harness: command
    shared: rw
    command: "touch /shared/deployed-by-$AGENTVISOR_TASK"
proposals: { from: [gatecrasher], agents: [deployer] }
tasks:
  - { id: propose, agent: gatecrasher }
  - { id: deploy, agent: deployer, after: [propose], approval: { timeout: 1h, onTimeout: reject } }
`);
    const runId = 'e2e-attack-gate';
    const client = await testClient();
    try {
      const report = await withRealWorker(async () => {
        await start(file, runId);
        const gated = await waitFor(client, runId, 'both deploy gates waiting', (r) => {
          if (r.tasks.some((t) => t.id.startsWith('deploy-') && t.startedAt))
            throw new Error(`a proposed deploy ran without a gate: ${JSON.stringify(r.tasks)}`);
          return ['deploy', 'deploy-now'].every((g) => r.approvals?.some((a) => a.gate === g && a.status === 'waiting'));
        });
        // the proposed task waits at the deployer's gate, as the graph's own deploy does
        expect(proposal(gated, '1-deploy-now.yaml')).toMatchObject({ status: 'accepted', tasks: ['deploy-now'] });
        expect(proposal(gated, '2-deploy-fast.yaml')).toMatchObject({
          status: 'refused',
          reason: `task "deploy-fast" sets its own approval gate; gates are the graph's (a proposed task waits at its agent's)`,
        });
        expect(gated.tasks.find((t) => t.id === 'deploy-now')).toMatchObject({
          status: 'awaiting_approval',
          addedBy: 'proposal of propose',
        });
        expect(gated.approvals!.find((a) => a.gate === 'deploy-now')).toMatchObject({ timeoutMs: 3_600_000, onTimeout: 'reject' });
        expect(await containersOfRun(runId)).toEqual([]); // nothing runs while they wait
        // the person lets the graph's deploy through and turns the proposed one down
        expect((await cli('approve', runId, 'deploy')).code).toBe(0);
        await waitFor(client, runId, 'the approved deploy', (r) => r.tasks.find((t) => t.id === 'deploy')!.status === 'succeeded');
        expect((await cli('reject', runId, 'deploy-now', '--reason', 'proposed by an agent')).code).toBe(0);
        return finalReport(client, runId);
      });
      expect({ status: report.status, error: report.error }).toEqual({
        status: 'failed',
        error: 'task failed: deploy-now (approval of task deploy-now rejected: proposed by an agent)',
      });
      // on the host: only the approved deploy ever ran
      const shared = report.shared!.path;
      expect(readdirSync(shared).filter((f) => f.startsWith('deployed-by-'))).toEqual(['deployed-by-deploy']);
      expect(report.tasks.find((t) => t.id === 'deploy-now')!.startedAt).toBeUndefined();
      expect(report.tasks.some((t) => t.id === 'deploy-fast')).toBe(false);
      for (const t of ['deploy-now', 'deploy-fast']) expect(existsSync(logOf(report, t))).toBe(false);
      expect(existsSync(logOf(report, 'deploy'))).toBe(true);
    } finally {
      await client.connection.close();
    }
  });

  test('links and FIFOs planted in the drop folder and in /shared are not followed or read by the host', async () => {
    const repo = makeRepo();
    // a file and a folder of the host, outside every mount: the secret is a valid proposal, so
    // a host that read it would show a task "stolen"
    const host = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-host-'));
    const secret = path.join(host, 'secret.yaml');
    writeFileSync(secret, 'id: stolen\nagent: planter\n');
    writeFileSync(path.join(host, 'keep.txt'), 'the host’s\n');
    const file = writeGraph(`
name: attack-links
repo: ${repo}
failFast: false
agents:
  planter:
    harness: command
    shared: rw
    env: { HOST_FILE: "${secret}", HOST_DIR: "${host}" }
    command: |
      [ "$AGENTVISOR_TASK" = plant ] || exit 0
      printf 'id: fine\\nagent: planter\\n' > /shared/proposals/1-fine.yaml
      ln -s "$HOST_FILE" /shared/proposals/2-symlink.yaml
      ln -s ../proposals/1-fine.yaml /shared/proposals/3-relative-symlink.yaml
      printf 'id: twin\\nagent: planter\\n' > /shared/proposals/4-twin-a.yaml
      ln /shared/proposals/4-twin-a.yaml /shared/proposals/4-twin-b.yaml
      ln /workspace/README.md /shared/proposals/5-workspace.yaml || true
      echo note > /shared/note.txt; ln /shared/note.txt /shared/proposals/6-shared.yaml || true
      mkfifo /shared/proposals/7-fifo.yaml
      ln -s "$HOST_DIR" /shared/host-dir
      ln -s "$HOST_FILE" /shared/host-file
      ln "$HOST_FILE" /shared/host-hardlink || true
  breaker: { harness: command, command: "exit 1" }
proposals: { from: [planter] }
tasks:
  - { id: plant, agent: planter }
  - { id: break, agent: breaker, after: [plant] }
`);
    const runId = 'e2e-attack-links';
    const report = await withRealWorker(() => runToEnd(file, { runId }));
    // the breaker fails the run: the rollback removes the shared workspace, symlinks and all
    expect(report.status).toBe('failed');
    expect(report.shared!.removed).toBe(true);
    expect(existsSync(report.shared!.path)).toBe(false);
    // the host's file and folder are untouched: the rollback did not follow the links
    expect(readdirSync(host).sort()).toEqual(['keep.txt', 'secret.yaml']);
    expect(readFileSync(secret, 'utf8')).toBe('id: stolen\nagent: planter\n');
    expect(statSync(secret).nlink).toBe(1);
    expect(readFileSync(path.join(host, 'keep.txt'), 'utf8')).toBe('the host’s\n');

    // the drop folder as the host has it: hard links across mounts could not be made
    const drop = path.join(report.artifactsDir, 'proposals', 'plant');
    expect(readdirSync(drop).sort()).toEqual([
      '1-fine.yaml',
      '2-symlink.yaml',
      '3-relative-symlink.yaml',
      '4-twin-a.yaml',
      '4-twin-b.yaml',
      '7-fifo.yaml',
    ]);
    expect(lstatSync(path.join(drop, '2-symlink.yaml')).isSymbolicLink()).toBe(true);
    expect(lstatSync(path.join(drop, '4-twin-a.yaml')).nlink).toBe(2);
    // what the proposals' reader made of it: only the plain file was read
    const seen = Object.fromEntries((report.proposals ?? []).map((p) => [p.file, [p.status, p.reason ?? '']]));
    expect(seen).toEqual({
      '1-fine.yaml': ['accepted', ''],
      '2-symlink.yaml': ['refused', 'malformed: not a regular file'],
      '3-relative-symlink.yaml': ['refused', 'malformed: not a regular file'],
      '4-twin-a.yaml': ['refused', 'malformed: a hard link (only a file the agent wrote there itself is read)'],
      '4-twin-b.yaml': ['refused', 'malformed: a hard link (only a file the agent wrote there itself is read)'],
      '7-fifo.yaml': ['refused', 'malformed: not a regular file'],
    });
    expect(report.tasks.map((t) => t.id).sort()).toEqual(['break', 'fine', 'plant']);
  });

  test('markup, HTML and terminal escapes an agent writes show as text in the UI details, status and report', async () => {
    const repo = makeRepo();
    const file = writeGraph(`
name: attack-text
repo: ${repo}
failFast: false
agents:
  namer:
    harness: command
    shared: rw
    env:
      H: "<img src=x onerror=alert(1)>[click](javascript:alert(1))\\e[2J\\e]0;owned\\a**x**|y"
      K: "<img src=x onerror=alert(3)>[k](javascript:x) **k** | c"
      P: "# Heading <script>alert(2)</script> [p](http://evil.example) ![i](http://tracker.example/i.png)"
    command: |
      [ "$AGENTVISOR_TASK" = name ] || exit 0
      printf 'id: painted\\nagent: namer\\nprompt: |-\\n  %s\\n  - item\\n' "$P" > "/shared/proposals/$H.yaml"
      printf '{"%s": 1, "id": "k", "agent": "namer"}' "$K" > /shared/proposals/keys.json
  clasher:
    harness: command
    env: { C: "<img src=x onerror=alert(4)>**clash**\\e[31m" }
    command: 'echo "$AGENTVISOR_TASK" > "$C.txt"'
proposals: { from: [namer] }
tasks:
  - { id: name, agent: namer }
  - { id: clash-a, agent: clasher }
  - { id: clash-b, agent: clasher }
`);
    const runId = 'e2e-attack-text';
    const client = await testClient();
    try {
      const { report, details, prompt } = await withRealWorker(async () => {
        const report = await runToEnd(file, { runId });
        // what the Temporal UI shows: the run's current details (answered by the worker) and the
        // proposed task's static details
        const details =
          ((await client.workflow.getHandle(runId).query('__temporal_workflow_metadata')) as { currentDetails?: string }).currentDetails ??
          '';
        const prompt = (await (await client.workflow.getHandle(`${runId}/painted`).describe()).staticDetails()) ?? '';
        // and in a real browser: the UI renders the markdown, which shows the agent's text as text
        const run = await uiMetadata(
          runId,
          'proposal <img src=x onerror=alert(1)>[click](javascript:alert(1))**x**|y.yaml of name: accepted',
        );
        const child = await uiMetadata(
          `${runId}/painted`,
          '# Heading <script>alert(2)</script> [p](http://evil.example) ![i](http://tracker.example/i.png)',
        );
        for (const seen of [run, child]) expect(seen).toEqual({ elements: [], dialogs: [] });
        return { report, details, prompt };
      });
      // the agents did write it: a proposal under that name, and a conflict on that file
      expect(report.status).toBe('failed');
      expect(report.proposals!.map((p) => [p.file, p.status])).toEqual([
        ['<img src=x onerror=alert(1)>[click](javascript:alert(1))\x1b[2J\x1b]0;owned\x07**x**|y.yaml', 'accepted'],
        ['keys.json', 'refused'],
      ]);
      expect(report.error).toMatch(/^merge conflict: task clash-b conflicts with clash-a in .*<img src=x onerror=alert\(4\)>/);

      // UI details: text, never markup or escapes
      for (const md of [details, prompt]) {
        expect(md).not.toMatch(/[^\\]<img|[^\\]<script|[^\\]\]\(javascript|[^\\]\]\(http|\x1b|\x07/);
      }
      expect(details).toContain(
        'proposal \\<img src=x onerror=alert\\(1\\)\\>\\[click\\]\\(javascript:alert\\(1\\)\\)\\*\\*x\\*\\*\\|y.yaml of name: **accepted**',
      );
      expect(details).toContain('unknown key "\\<img src=x onerror=alert\\(3\\)\\>\\[k\\]\\(javascript:x\\) \\*\\*k\\*\\* \\| c"');
      expect(details).toContain('\\<img src=x onerror=alert\\(4\\)\\>\\*\\*clash\\*\\*');
      expect(details).toMatch(/\| painted\u00a0\u00a0 \| namer\u00a0\u00a0 \| succeeded\u00a0\u00a0 \|/); // (cells padded: markdownRow)
      expect(prompt).toBe(
        '**Prompt**\n\n\\# Heading \\<script\\>alert\\(2\\)\\</script\\> \\[p\\]\\(http\\://evil.example\\) \\!\\[i\\]\\(http\\://tracker.example/i.png\\)  \n\\- item',
      );

      // the terminal: no escape sequence or control character reaches it
      const status = await cli('status', runId);
      expect(status.stdout).not.toMatch(CONTROL);
      expect(status.stdout).toContain(
        'proposal <img src=x onerror=alert(1)>[click](javascript:alert(1))**x**|y.yaml of name (painted): accepted',
      );
      expect(status.stdout).toContain('<img src=x onerror=alert(4)>**clash**');

      // the report: escaped HTML, as before
      const out = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-attack-report-'));
      expect((await cli('report', runId, '--out', out)).code).toBe(0);
      const html = readFileSync(path.join(out, 'report.html'), 'utf8');
      expect(html).not.toMatch(/<img|<script>alert|\x1b/);
      expect(html).toContain('&#60;img src=x onerror=alert(1)&#62;');
      expect(readFileSync(path.join(out, 'report.md'), 'utf8')).not.toMatch(/[^\\]<img|\x1b/);
    } finally {
      await client.connection.close();
    }
  });

  test('a read-only shared workspace and the home files mount cannot be written', async () => {
    const repo = makeRepo();
    const graphDir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-graph-'));
    writeFileSync(path.join(graphDir, 'tool.json'), '{"safe": true}\n');
    const file = path.join(graphDir, 'graph.yaml');
    writeFileSync(
      file,
      `
name: attack-readonly
repo: ${repo}
shared: { keep: true }
agents:
  seeder: { harness: command, shared: rw, command: "echo original > /shared/plan.md" }
  vandal:
    harness: command
    shared: ro
    command: |
      echo changed > /shared/plan.md
      echo more >> /shared/plan.md
      chmod 666 /shared/plan.md
      touch /shared/new.txt
      mkdir /shared/dir
      ln -s /etc /shared/etc
      mv /shared/plan.md /shared/moved.md
      rm -f /shared/plan.md
      mount -o remount,rw /shared
      echo changed > /shared/plan.md
      true
  homer:
    harness: command
    home: { .config/tool.json: ./tool.json }
    command: |
      echo '{"safe": false}' > /agentvisor/home/.config/tool.json
      chmod 777 /agentvisor/home/.config/tool.json
      touch /agentvisor/home/new
      mkdir /agentvisor/home/dir
      rm -rf /agentvisor/home/.config
      mount -o remount,rw /agentvisor/home
      echo '{"safe": false}' > /agentvisor/home/.config/tool.json
      true
tasks:
  - { id: seed, agent: seeder }
  - { id: vandalise, agent: vandal, after: [seed] }
  - { id: home, agent: homer }
`,
    );
    const runId = 'e2e-attack-readonly';
    const report = await withRealWorker(() => runToEnd(file, { runId }));
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    expect(report.tasks.map((t) => t.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // the shared workspace on the host: as the seeder left it
    const shared = report.shared!.path;
    expect(readdirSync(shared)).toEqual(['plan.md']);
    expect(readFileSync(path.join(shared, 'plan.md'), 'utf8')).toBe('original\n');
    expect(statSync(path.join(shared, 'plan.md')).mode & 0o777).toBe(statSync(path.join(shared, 'plan.md')).mode & 0o777 & ~0o022);
    // the home files on the host: as the graph gave them
    const home = path.join(report.artifactsDir, 'home', 'home');
    expect(readdirSync(home, { recursive: true }).map(String).sort()).toEqual(['.config', '.config/tool.json']);
    expect(readFileSync(path.join(home, '.config', 'tool.json'), 'utf8')).toBe('{"safe": true}\n');
    expect(statSync(path.join(home, '.config', 'tool.json')).mode & 0o022).toBe(0);
  });
});
