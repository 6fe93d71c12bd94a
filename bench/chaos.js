#!/usr/bin/env node
// The kill-at-random chaos loop: N runs of a small graph; during each, the worker process is killed
// with SIGKILL at a random moment (once or twice) and a new one started. Counts the runs that
// finished as an undisturbed run does, orphaned containers and worktrees, and work done twice
// (an agent container started twice, a commit or a merge made twice).
//   npm run chaos -- 20        (needs `npm run build`, dockerd and the base image)
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const Docker = require('dockerode');

const root = path.join(__dirname, '..');
const { devServerArgs, findTemporalCli, isListening } = require(path.join(root, 'dist/client/dev-server'));
const { loadConfig } = require(path.join(root, 'dist/client/config'));
const { startRun, waitForRun } = require(path.join(root, 'dist/client/api'));
const BIN = path.join(root, 'bin/agentvisor.js');
const LABEL_RUN = 'org.agentvisor.run';

const N = Number(process.argv[2] ?? process.env.CHAOS_RUNS ?? 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const git = (cwd, ...args) => execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd, encoding: 'utf8' });

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function spawnWorker(env) {
  const child = spawn(process.execPath, [BIN, 'worker'], { env: { ...env, AGENTVISOR_LOG_LEVEL: 'INFO' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  while (!out.includes('"state":"RUNNING"')) { // the worker's JSON log line
    if (child.exitCode !== null) throw new Error(out);
    await sleep(50);
  }
  return child;
}

function makeRepo() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentvisor-chaos-repo-'));
  git(dir, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(dir, 'README.md'), '# chaos\n');
  git(dir, 'add', '-A');
  git(dir, '-c', 'user.name=t', '-c', 'user.email=t@l', 'commit', '-q', '-m', 'init');
  return dir;
}

async function startsByTask(docker, runId, since) {
  const stream = await docker.getEvents({
    since: Math.floor(since / 1000),
    until: Math.ceil(Date.now() / 1000),
    filters: { label: [`${LABEL_RUN}=${runId}`], event: ['start'] },
  });
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  const counts = {};
  for (const line of text.split('\n').filter(Boolean)) {
    const task = JSON.parse(line).Actor.Attributes['org.agentvisor.task'];
    counts[task] = (counts[task] ?? 0) + 1;
  }
  return counts;
}

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentvisor-chaos-'));
  const port = await freePort();
  const server = spawn(findTemporalCli(), devServerArgs({ dataDir, port, uiPort: await freePort(), dbFile: '' }), { stdio: 'ignore' });
  while (!(await isListening('127.0.0.1', port))) await sleep(100);
  const env = { ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, AGENTVISOR_HOME: dataDir };
  Object.assign(process.env, env);
  const cfg = loadConfig(env);
  const docker = new Docker();
  const totals = { runs: 0, completed: 0, kills: 0, orphanContainers: 0, orphanWorktrees: 0, duplicateStarts: 0, duplicateCommits: 0, duplicateMerges: 0 };
  let worker = await spawnWorker(env);
  try {
    for (let i = 1; i <= N; i++) {
      const repo = makeRepo();
      const file = path.join(dataDir, `graph-${i}.yaml`);
      fs.writeFileSync(file, `
name: chaos
repo: ${repo}
agents:
  w: { harness: command, command: 'sleep 2; echo "$AGENTVISOR_TASK" > "$AGENTVISOR_TASK.txt"' }
tasks:
  - { id: a, agent: w }
  - { id: b, agent: w }
  - { id: c, agent: w, after: [a] }
evaluate: { command: "sleep 1; test -f a.txt && test -f b.txt && test -f c.txt" }
`);
      const runId = `chaos-${i}`;
      const t0 = Date.now();
      const started = await startRun(file, { config: cfg, worker: 'none', runId });
      const kills = 1 + Math.floor(Math.random() * 2);
      const killer = (async () => {
        for (let k = 0; k < kills; k++) {
          await sleep(500 + Math.random() * 5000);
          worker.kill('SIGKILL');
          await new Promise((r) => worker.once('exit', r));
          totals.kills++;
          worker = await spawnWorker(env);
        }
      })();
      const report = await waitForRun(started.client, runId, cfg);
      await killer;
      await started.client.connection.close();
      totals.runs++;
      const ok = report.status === 'completed' && report.evaluation && report.evaluation.passed;
      if (ok) totals.completed++;
      const orphans = (await docker.listContainers({ all: true, filters: { label: [`${LABEL_RUN}=${runId}`] } })).length;
      const worktrees = git(repo, 'worktree', 'list').trim().split('\n').length - 1;
      const starts = await startsByTask(docker, runId, t0);
      const dupStarts = Object.values(starts).filter((n) => n > 1).length;
      let dupCommits = 0;
      let dupMerges = 0;
      if (ok) {
        const authors = git(repo, 'log', '--format=%an', report.integrationBranch).split('\n').filter((a) => a === 'w');
        dupCommits = Math.max(0, authors.length - 3);
        const merges = git(repo, 'log', '--merges', '--format=%s', report.integrationBranch).split('\n').filter((s) => s.startsWith('agentvisor: merge'));
        dupMerges = Math.max(0, merges.length - 3);
      }
      totals.orphanContainers += orphans;
      totals.orphanWorktrees += worktrees;
      totals.duplicateStarts += dupStarts;
      totals.duplicateCommits += dupCommits;
      totals.duplicateMerges += dupMerges;
      console.log(
        `run ${i}/${N}: ${report.status}${ok ? '' : ` (${report.error})`}, ${kills} kill(s), ${((Date.now() - t0) / 1000).toFixed(1)}s, ` +
          `starts ${JSON.stringify(starts)}, orphans ${orphans}/${worktrees}, duplicate commits ${dupCommits}, merges ${dupMerges}`,
      );
      fs.rmSync(repo, { recursive: true, force: true });
    }
  } finally {
    worker.kill('SIGKILL');
    server.kill('SIGTERM');
  }
  console.log('\n' + JSON.stringify(totals, null, 2));
  console.log(
    `${totals.completed}/${totals.runs} runs completed after ${totals.kills} worker kills; ` +
      `orphan containers ${totals.orphanContainers}, orphan worktrees ${totals.orphanWorktrees}, ` +
      `agents started twice ${totals.duplicateStarts}, duplicate commits ${totals.duplicateCommits}, duplicate merges ${totals.duplicateMerges}`,
  );
  process.exit(totals.completed === totals.runs && totals.duplicateStarts + totals.duplicateCommits + totals.duplicateMerges + totals.orphanContainers === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
