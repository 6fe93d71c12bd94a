#!/usr/bin/env node
// The kill-at-random chaos loop. Runs of a small graph, one after the other; during each, the worker
// process is killed with SIGKILL once or twice at moments drawn at random over the whole run, its
// clean-up included (every CHAOS_FAIL_EVERY-th run has a task that fails, so it ends in a rollback),
// and a new worker started at once. After every run it checks, on the host:
//   - the result: a run that should complete did, and the integration branch's tree is exactly the
//     expected files; a run that should fail did, for the expected reason, with its rollback complete
//     (every ref exactly as before the run);
//   - what is left: containers and networks of the run, workspace folders (<data>/runs/<id>/worktrees/*),
//     branches other than those the run should leave;
//   - work done twice: a task's agent container started more than once (Docker's event stream, live),
//     a task's work committed more than once, a task merged more than once;
//   - the recovery time after each kill (a second kill comes only after the first one's recovery), from the histories' timestamps: kill → the first retried
//     attempt of each activity the kill interrupted (the slowest of them), named after them (the kill
//     point); a kill that interrupted no activity ("between activities"): kill → the run's next event.
//
//   npm run chaos -- 20                       20 runs (needs `npm run build`, dockerd and the base image)
//   node bench/chaos.js 1000 --minutes 15     as many runs as start within 15 minutes
//   CHAOS_FAIL_EVERY=4 (default: every 4th run fails and rolls back; 0: none)
//   CHAOS_JSON=file                           also write every run's figures there
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const Docker = require('dockerode');

const root = path.join(__dirname, '..');
const { devServerArgs, findTemporalCli, isListening } = require(path.join(root, 'dist/client/dev-server'));
const { loadConfig } = require(path.join(root, 'dist/client/config'));
const { runArtifactsDir } = require(path.join(root, 'dist/paths/data-folder'));
const { startRun, waitForRun } = require(path.join(root, 'dist/client/api'));
const BIN = path.join(root, 'bin/agentvisor.js');
const LABEL_RUN = 'org.agentvisor.run';
const LABEL_TASK = 'org.agentvisor.task';
const LABEL_ROLE = 'org.agentvisor.role';

const args = process.argv.slice(2);
const minutesAt = args.indexOf('--minutes');
const MINUTES = minutesAt >= 0 ? Number(args.splice(minutesAt, 2)[1]) : Infinity;
const N = Number(args[0] ?? process.env.CHAOS_RUNS ?? 20);
const FAIL_EVERY = Number(process.env.CHAOS_FAIL_EVERY ?? 4);
/** after a kill, the next is drawn from this much later on */
const RECOVERY_MS = 12_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const git = (cwd, ...a) => execFileSync('git', ['-c', 'safe.directory=*', ...a], { cwd, encoding: 'utf8' });
const gitOk = (cwd, ...a) => {
  try {
    return git(cwd, ...a);
  } catch {
    return undefined;
  }
};

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function spawnWorker(env) {
  const child = spawn(process.execPath, [BIN, 'worker'], {
    env: { ...env, AGENTVISOR_LOG_LEVEL: 'INFO' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  child.exited = new Promise((r) => child.once('exit', r));
  while (!out.includes('"state":"RUNNING"')) {
    // the worker's JSON log line
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

/** Container starts of a run as they happen, per task (collectors apart): the engine's backlog is short. */
async function recordStarts(docker, runId) {
  const stream = await docker.getEvents({ filters: { label: [`${LABEL_RUN}=${runId}`], event: ['start'] } });
  const counts = {};
  let buffer = '';
  stream.on('data', (chunk) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop();
    for (const line of lines.filter(Boolean)) {
      const a = JSON.parse(line).Actor.Attributes;
      const key = a[LABEL_TASK] + (a[LABEL_ROLE] === 'collector' ? ':collector' : '');
      counts[key] = (counts[key] ?? 0) + 1;
    }
  });
  return { counts: () => ({ ...counts }), stop: () => stream.destroy() };
}

/** The graph: a and b at once, c after a; `d` (when the run should fail) fails after its agent ran. */
const TASKS = ['a', 'b', 'c'];
const EXPECTED_TREE = ['README.md', 'a.txt', 'b.txt', 'out/c.txt'];
function graphFor(repo, failing) {
  return `
name: chaos
repo: ${repo}
agents:
  w: { harness: command, command: 'sleep 2; echo "$AGENTVISOR_TASK" > "$AGENTVISOR_TASK.txt"' }
  w-out: { harness: command, command: 'sleep 2; mkdir -p out; echo "$AGENTVISOR_TASK" > "out/$AGENTVISOR_TASK.txt"' }
  broken: { harness: command, command: 'sleep 3; echo d > d.txt; exit 3' }
tasks:
  - { id: a, agent: w }
  - { id: b, agent: w }
  - { id: c, agent: w-out, after: [a] }
${failing ? '  - { id: d, agent: broken, after: [b] }\n' : ''}evaluate: { command: "sleep 1; test -f a.txt && test -f b.txt && test -f out/c.txt" }
`;
}

const millis = (t) => Number(t.seconds) * 1000 + Math.round((t.nanos ?? 0) / 1e6);

/**
 * From the run's histories: per kill, the activities it interrupted (their next attempt started after
 * it, before the next kill) and how long after the kill the slowest of them started again; a kill that
 * interrupted none: the time to the run's next event.
 */
async function recoveries(client, workflowIds, kills) {
  const retried = [];
  const events = [];
  for (const id of workflowIds) {
    let history;
    try {
      history = await client.workflow.getHandle(id).fetchHistory();
    } catch {
      continue; // a task that never started
    }
    const scheduled = new Map();
    for (const e of history.events ?? []) {
      const at = millis(e.eventTime);
      events.push(at);
      if (e.activityTaskScheduledEventAttributes)
        scheduled.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
      const started = e.activityTaskStartedEventAttributes;
      if (started && (started.attempt ?? 1) > 1) retried.push({ at, activity: scheduled.get(String(started.scheduledEventId)) ?? '?' });
    }
  }
  events.sort((x, y) => x - y);
  return kills.map((kill, i) => {
    const next = kills[i + 1]?.at ?? Infinity;
    const mine = retried.filter((r) => r.at >= kill.at && r.at < next);
    if (mine.length) {
      return { point: [...new Set(mine.map((r) => r.activity))].sort().join('+'), ms: Math.max(...mine.map((r) => r.at - kill.at)) };
    }
    const after = events.find((t) => t >= kill.at);
    return { point: 'between activities', ms: after === undefined ? null : after - kill.at };
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

async function main() {
  const t00 = Date.now();
  const session = t00.toString(36);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentvisor-chaos-'));
  const port = await freePort();
  const server = spawn(findTemporalCli(), devServerArgs({ dataDir, port, uiPort: await freePort(), dbFile: '' }), { stdio: 'ignore' });
  while (!(await isListening('127.0.0.1', port))) await sleep(100);
  const env = { ...process.env, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, AGENTVISOR_HOME: dataDir };
  Object.assign(process.env, env);
  const cfg = loadConfig(env);
  const docker = new Docker();
  const totals = {
    runs: 0,
    asExpected: 0,
    completed: 0,
    rolledBack: 0,
    kills: 0,
    wrongTrees: 0,
    orphanContainers: 0,
    orphanNetworks: 0,
    orphanWorkspaces: 0,
    orphanBranches: 0,
    duplicateContainers: 0,
    duplicateCommits: 0,
    duplicateMerges: 0,
  };
  const allKills = [];
  const rows = [];
  // the undisturbed duration of each kind of run: the window the kill points are drawn from
  const window = {};
  let worker = await spawnWorker(env);
  try {
    for (let i = 1; i <= N && Date.now() - t00 < MINUTES * 60_000; i++) {
      const failing = FAIL_EVERY > 0 && i % FAIL_EVERY === 0;
      const kind = failing ? 'rollback' : 'complete';
      const repo = makeRepo();
      const before = git(repo, 'for-each-ref', '--format=%(refname) %(objectname)');
      const baseCommit = git(repo, 'rev-parse', 'HEAD').trim();
      const file = path.join(dataDir, `graph-${i}.yaml`);
      fs.writeFileSync(file, graphFor(repo, failing));
      const runId = `chaos-${session}-${i}`; // unique on a Docker engine other benches may share
      const starts = await recordStarts(docker, runId);
      const t0 = Date.now();
      const started = await startRun(file, { config: cfg, worker: 'none', runId });
      // the first run of each kind is undisturbed: it measures the window
      const calibrating = !(kind in window);
      const kills = [];
      let over = false;
      const killer = (async () => {
        if (calibrating) return;
        const n = 1 + Math.floor(Math.random() * 2);
        let from = Date.now();
        for (let k = 0; k < n; k++) {
          // over the whole undisturbed run, clean-up included; time spent recovering does not count
          const due = from + Math.random() * window[kind];
          while (!over && Date.now() < due) await sleep(Math.min(50, due - Date.now()));
          if (over) return;
          worker.kill('SIGKILL');
          await worker.exited;
          kills.push({ at: Date.now(), offset: Date.now() - t0 });
          worker = await spawnWorker(env);
          // the next kill once this one's retries have started (heartbeat timeout 10 s + retry 1 s):
          // each kill's recovery is its own
          from = kills[kills.length - 1].at + RECOVERY_MS;
        }
      })();
      let report;
      try {
        report = await waitForRun(started.client, runId, cfg);
      } catch (err) {
        report = { status: 'error', error: String(err), tasks: [], integrationBranch: `agentvisor/${runId}` };
      }
      over = true;
      await killer;
      const elapsed = Date.now() - t0;
      if (calibrating) window[kind] = elapsed;
      const rec = await recoveries(
        started.client,
        [runId, ...TASKS.map((t) => `${runId}/${t}`), ...(failing ? [`${runId}/d`] : [])],
        kills,
      );
      await started.client.connection.close();
      await sleep(300); // the last start events
      starts.stop();

      // the result
      const problems = [];
      let wrongTree = 0;
      let orphanBranches = 0;
      const refs = git(repo, 'for-each-ref', '--format=%(refname) %(objectname)');
      if (!failing) {
        if (report.status !== 'completed' || !report.evaluation?.passed) problems.push(`${report.status}: ${report.error}`);
        const tree = (gitOk(repo, 'ls-tree', '-r', '--name-only', report.integrationBranch) ?? '').trim().split('\n').filter(Boolean);
        if (JSON.stringify(tree) !== JSON.stringify(EXPECTED_TREE)) {
          wrongTree = 1;
          problems.push(`tree [${tree.join(' ')}]`);
        }
        const names = refs
          .trim()
          .split('\n')
          .map((l) => l.split(' ')[0]);
        const leaves = new Set([
          'refs/heads/main',
          `refs/heads/agentvisor/${runId}`,
          ...TASKS.map((t) => `refs/heads/agentvisor-tasks/${runId}/${t}`),
        ]);
        orphanBranches = names.filter((n) => !leaves.has(n)).length + [...leaves].filter((n) => !names.includes(n)).length;
      } else {
        // d fails; a task still running then (c, when a kill delayed it) is cancelled, as without kills
        const others = (report.tasks ?? []).filter((t) => t.id !== 'd' && t.status !== 'succeeded' && t.status !== 'cancelled');
        const d = (report.tasks ?? []).find((t) => t.id === 'd');
        if (
          report.status !== 'failed' ||
          d?.status !== 'failed' ||
          !/agent exited with code 3/.test(d.error ?? '') ||
          others.length ||
          /rollback incomplete/.test(report.error ?? '')
        ) {
          problems.push(`${report.status}: ${report.error}`);
        }
        // the rollback: every ref exactly as before
        const a = new Set(before.trim().split('\n'));
        const b = new Set(refs.trim().split('\n'));
        orphanBranches = [...b].filter((r) => !a.has(r)).length + [...a].filter((r) => !b.has(r)).length;
      }

      // what is left
      const orphanContainers = (await docker.listContainers({ all: true, filters: { label: [`${LABEL_RUN}=${runId}`] } })).length;
      const orphanNetworks = (await docker.listNetworks({ filters: { name: [`agentvisor-${runId}-`] } })).length;
      const wtDir = path.join(runArtifactsDir(dataDir, runId), 'worktrees');
      const orphanWorkspaces = fs.existsSync(wtDir) ? fs.readdirSync(wtDir).length : 0;

      // work done twice
      const counts = starts.counts();
      // (c of a rollback may be cancelled before its container starts)
      const agentTasks = failing ? ['a', 'b', 'd'] : [...TASKS, '_evaluate'];
      const duplicateContainers = [...TASKS, 'd', '_evaluate'].reduce((n, t) => n + Math.max(0, (counts[t] ?? 0) - 1), 0);
      const missingStarts = agentTasks.filter((t) => !counts[t]);
      if (missingStarts.length) problems.push(`no container started for ${missingStarts.join(', ')}`);
      // each succeeded task's work is one commit (by the collector, on its start commit)
      let duplicateCommits = 0;
      const commitOf = Object.fromEntries((report.tasks ?? []).filter((t) => t.status === 'succeeded').map((t) => [t.id, t.commit]));
      for (const t of TASKS) {
        if (!commitOf[t]) {
          if (!failing) problems.push(`task ${t} has no commit`);
          continue;
        }
        const exclude = t === 'c' && commitOf.a ? [`^${commitOf.a}`] : [];
        const n = Number(git(repo, 'rev-list', '--count', '--no-merges', commitOf[t], `^${baseCommit}`, ...exclude).trim());
        duplicateCommits += Math.max(0, n - 1);
      }
      let duplicateMerges = 0;
      if (!failing && report.status === 'completed') {
        const merges = git(repo, 'log', '--merges', '--format=%s', report.integrationBranch)
          .split('\n')
          .filter((s) => s.startsWith('agentvisor: merge'));
        duplicateMerges = merges.length - new Set(merges).size;
        const unmerged = TASKS.filter((t) => !merges.includes(`agentvisor: merge ${t}`));
        if (unmerged.length) problems.push(`not merged: ${unmerged.join(', ')}`);
      }

      // a run is as expected when nothing is wrong, left behind or done twice
      const ok =
        problems.length === 0 &&
        orphanContainers + orphanNetworks + orphanWorkspaces + orphanBranches === 0 &&
        duplicateContainers + duplicateCommits + duplicateMerges === 0;
      totals.runs++;
      if (ok) totals.asExpected++;
      if (!failing && report.status === 'completed') totals.completed++;
      if (failing && report.status === 'failed' && orphanBranches === 0) totals.rolledBack++;
      totals.kills += kills.length;
      totals.wrongTrees += wrongTree;
      totals.orphanContainers += orphanContainers;
      totals.orphanNetworks += orphanNetworks;
      totals.orphanWorkspaces += orphanWorkspaces;
      totals.orphanBranches += orphanBranches;
      totals.duplicateContainers += duplicateContainers;
      totals.duplicateCommits += duplicateCommits;
      totals.duplicateMerges += duplicateMerges;
      kills.forEach((k, j) => allKills.push({ run: i, kind, offset: k.offset, ...rec[j] }));
      const row = {
        run: i,
        kind,
        status: report.status,
        ok,
        problems,
        seconds: +(elapsed / 1000).toFixed(1),
        calibrating,
        kills: kills.map((k, j) => ({ offset: k.offset, ...rec[j] })),
        starts: counts,
        orphans: { containers: orphanContainers, networks: orphanNetworks, workspaces: orphanWorkspaces, branches: orphanBranches },
        duplicates: { containers: duplicateContainers, commits: duplicateCommits, merges: duplicateMerges },
      };
      rows.push(row);
      console.log(
        `run ${i}${Number.isFinite(N) ? `/${N}` : ''} (${kind}${calibrating ? ', undisturbed: the kill window' : ''}): ${report.status}${ok ? '' : ` UNEXPECTED (${problems.join('; ')})`}, ${row.seconds}s, ` +
          `kills [${row.kills.map((k) => `${(k.offset / 1000).toFixed(1)}s ${k.point} → ${k.ms} ms`).join(', ')}], ` +
          `starts ${JSON.stringify(counts)}, orphans ${JSON.stringify(row.orphans)}, duplicates ${JSON.stringify(row.duplicates)}`,
      );
      if (ok) fs.rmSync(repo, { recursive: true, force: true });
      else console.log(`  (kept the repository: ${repo})`);
    }
  } finally {
    worker.kill('SIGKILL');
    server.kill('SIGTERM');
  }

  console.log('\n' + JSON.stringify(totals, null, 2));
  console.log(`\nrecovery after a kill, by kill point (ms), window: ${JSON.stringify(window)} ms`);
  const byPoint = {};
  for (const k of allKills) (byPoint[k.point] ??= []).push(k.ms);
  const table = Object.entries(byPoint)
    .sort((x, y) => y[1].length - x[1].length)
    .map(([point, ms]) => {
      const known = ms.filter((m) => m !== null);
      return { point, kills: ms.length, median: median(known), max: known.length ? Math.max(...known) : NaN };
    });
  for (const t of table) console.log(`  ${t.point.padEnd(40)} ${String(t.kills).padStart(4)} kills  median ${t.median}  max ${t.max}`);
  const every = allKills.map((k) => k.ms).filter((m) => m !== null);
  console.log(`  ${'all'.padEnd(40)} ${String(allKills.length).padStart(4)} kills  median ${median(every)}  max ${Math.max(...every)}`);
  console.log(
    `\n${totals.asExpected}/${totals.runs} runs as expected (${totals.completed} completed, ${totals.rolledBack} failed and rolled back) after ${totals.kills} worker kills in ` +
      `${((Date.now() - t00) / 60_000).toFixed(1)} min; wrong trees ${totals.wrongTrees}; orphan containers ${totals.orphanContainers}, networks ${totals.orphanNetworks}, ` +
      `workspaces ${totals.orphanWorkspaces}, branches ${totals.orphanBranches}; duplicate containers ${totals.duplicateContainers}, ` +
      `commits ${totals.duplicateCommits}, merges ${totals.duplicateMerges}`,
  );
  if (process.env.CHAOS_JSON)
    fs.writeFileSync(process.env.CHAOS_JSON, JSON.stringify({ totals, window, byPoint: table, runs: rows }, null, 2) + '\n');
  const clean = Object.entries(totals).every(([k, v]) => !/^(wrong|orphan|duplicate)/.test(k) || v === 0);
  if (totals.asExpected === totals.runs && clean) fs.rmSync(dataDir, { recursive: true, force: true });
  else console.log(`(kept the data folder: ${dataDir})`);
  process.exit(totals.asExpected === totals.runs && clean ? 0 : 1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
