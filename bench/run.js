#!/usr/bin/env node
// agentvisor benchmarks: what the orchestration costs over the physical floor, and how it scales.
//
//   npm run bench                 build, then every benchmark; prints the table, writes BENCHMARKS.md
//   node bench/run.js --quick     small counts, one repetition: checks that the suite works
//   node bench/run.js --no-write  print only
//
// Counts and repetitions come from the environment (defaults: the issue's list):
//   BENCH_PARALLEL=1,5,10,25,50  BENCH_OVERHEAD_REPS=5  BENCH_REPS=3  BENCH_LARGE_N=25  BENCH_LARGE_REPS=1
//   BENCH_CHAIN=20  BENCH_CHAIN_REPS=1  BENCH_FAN=200  BENCH_FAN_REPS=1
//   BENCH_RSS_AGENTS=20  BENCH_RSS_SLEEP=5  BENCH_PROFILE=1  BENCH_OUT=BENCHMARKS.md  BENCH_KEEP=0
//   BENCH_GATEWAY=1 (the gateway beside direct calls and nginx: bench/gateway.js, its own variables there)
//   BENCH_LARGE_REPO=1 (then bench/large-repo.js, with 2,000 files under --quick; 0: skip it)
//
// It starts its own Temporal dev server (in memory, on a free port, never 7233), its own worker process
// and its own AGENTVISOR_HOME in a temp folder, and stops and removes them at the end. Each agentvisor
// run goes through the CLI (`agentvisor run FILE --json`) with the server and worker already warm; each
// baseline run is bench/baseline.sh doing the same git and docker steps directly. The two alternate, so
// a busy machine slows both alike. Nothing here asserts a timing.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const env = require('./lib/env');
const m = require('./lib/measure');
const prof = require('./lib/profile');
const { median, sec, msf, ratio, mib, kib, table, writeGenerated } = require('./lib/report');
const gatewayBench = require('./gateway');

const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const num = (name, dflt, q) => Number(process.env[name] ?? (quick ? q : dflt));
const CFG = {
  parallel: (process.env.BENCH_PARALLEL ?? (quick ? '1,3' : '1,5,10,25,50'))
    .split(',')
    .map(Number)
    .filter((n) => n > 0),
  overheadReps: num('BENCH_OVERHEAD_REPS', 5, 2),
  reps: num('BENCH_REPS', 3, 1),
  largeReps: num('BENCH_LARGE_REPS', 1, 1),
  largeN: num('BENCH_LARGE_N', 25, 25),
  chain: num('BENCH_CHAIN', 20, 3),
  chainReps: num('BENCH_CHAIN_REPS', 1, 1),
  fan: num('BENCH_FAN', 200, 6),
  fanReps: num('BENCH_FAN_REPS', 1, 1),
  rssAgents: num('BENCH_RSS_AGENTS', 20, 3),
  rssSleep: num('BENCH_RSS_SLEEP', 5, 2),
  profile: (process.env.BENCH_PROFILE ?? '1') !== '0',
  out: args.has('--no-write') ? undefined : path.resolve(env.ROOT, process.env.BENCH_OUT ?? 'BENCHMARKS.md'),
  keep: process.env.BENCH_KEEP === '1',
  gateway: (process.env.BENCH_GATEWAY ?? '1') !== '0',
};
const TRIVIAL = 'touch "t-$AGENTVISOR_TASK"';
/** the worker's activity slots (AGENTVISOR_WORKER_CAPACITY, default 32): the floor runs as many tasks at once */
const WORKER_ACTIVITY_SLOTS = Number(process.env.AGENTVISOR_WORKER_CAPACITY) || 32;

const log = (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main() {
  const started = new Date();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'agentvisor-bench-'));
  const load0 = os.loadavg();
  let keepHome = false;
  log(`home ${home}; config ${JSON.stringify(CFG)}`);
  if (process.env.BENCH_SNAPSHOT !== '0') env.snapshotApp(home);
  const server = await env.startServer(home);
  const runEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: 'default',
    AGENTVISOR_HOME: home,
    AGENTVISOR_UI_URL: '',
  };
  delete runEnv.DOCKER_CONTEXT;
  const cleanups = [() => server.stop()];
  let worker;
  const watch = new m.DockerWatch();
  const stopAll = async () => {
    watch.stop();
    for (const f of cleanups.reverse()) await f().catch(() => undefined);
  };
  process.once('SIGINT', () =>
    stopAll().then(() => {
      if (!CFG.keep) fs.rmSync(home, { recursive: true, force: true });
      process.exit(130);
    }),
  );

  const { Connection, Client } = require(path.join(env.ROOT, 'node_modules', '@temporalio', 'client'));
  const connection = await Connection.connect({ address: server.address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace: 'default' });

  try {
    await watch.start();
    worker = await env.startWorker(runEnv, { home });
    cleanups.push(() => worker.stop());
    log(`server ${server.address} (pid ${server.pid}), worker pid ${worker.pid}`);
    const versions = env.versions(server.cli);

    let seq = 0;
    const failures = [];
    const id = (tag) => `bench-${tag}-${++seq}-${randomBytes(2).toString('hex')}`;
    const fresh = (tag) => env.makeRepo(path.join(home, 'repos', tag));

    /**
     * One agentvisor run of a shape. A run that does not complete is recorded (ok: false, error) and
     * the suite goes on; its histories are saved in the bench home, which is then kept.
     */
    async function agentvisor(shape, n, { command = TRIVIAL, histories = 'parent', cliNodeArgs = [] } = {}) {
      const runId = id(`${shape}${n}`);
      const repo = fresh(runId);
      const graphFile = path.join(home, 'graphs', `${runId}.yaml`);
      fs.mkdirSync(path.dirname(graphFile), { recursive: true });
      fs.writeFileSync(graphFile, env.graphYaml({ name: `bench-${shape}-${n}`, repo, shape, n, command }));
      if (worker.proc.exitCode !== null) throw new Error(`the worker died; see ${worker.logFile}`);
      const run = await m.runAgentvisor({ graphFile, runId, env: runEnv, nodeArgs: cliNodeArgs });
      await watch.settle();
      run.shape = shape;
      run.n = n;
      run.leftContainers = await watch.cleanup('agentvisor', runId);
      run.ok = run.exitCode === 0 && run.report?.status === 'completed';
      if (!run.ok) run.error = (run.report?.error ?? run.stderr.trim().split('\n').slice(-3).join(' ')).replace(/\s+/g, ' ').slice(0, 600);
      run.containers = m.containerStats(watch.of('agentvisor', runId));
      run.parent = await m.history(client, runId).catch(() => undefined);
      if (histories === 'all' || !run.ok) {
        run.children = [];
        for (const t of env.taskIds(shape, n)) {
          const h = await m.history(client, `${runId}/${t}`).catch(() => undefined);
          if (h) run.children.push(h);
        }
        run.retries = (run.parent ? m.retries(run.parent) : 0) + run.children.reduce((s, h) => s + m.retries(h), 0);
        run.agentStarts = m.agentStartLatencies(run.children, watch.of('agentvisor', runId));
      }
      run.ttfasMs = run.containers.firstStart !== undefined ? run.containers.firstStart - run.t0 : undefined;
      if (!run.ok) {
        failures.push(`${runId} (${shape} ${n}): ${run.error}`);
        const dir = path.join(home, 'failures', runId);
        fs.mkdirSync(dir, { recursive: true });
        for (const h of [run.parent, ...(run.children || [])].filter(Boolean)) {
          fs.writeFileSync(path.join(dir, `${h.workflowId.replace(/\//g, '__')}.json`), JSON.stringify(h.events.map((e) => e.e)));
        }
        fs.writeFileSync(path.join(dir, 'cli-stderr.txt'), run.stderr);
        log(`agentvisor ${shape} ${n}: FAILED after ${sec(run.wallMs)}: ${run.error.slice(0, 300)} (histories in ${dir})`);
      } else {
        log(
          `agentvisor ${shape} ${n}: ${sec(run.wallMs)} (first agent start ${msf(run.ttfasMs)}, ${run.containers.maxConcurrent} at once${run.retries ? `, ${run.retries} activity retries` : ''})`,
        );
      }
      return run;
    }

    async function baseline(shape, n, { command = TRIVIAL, maxParallel = 0 } = {}) {
      const runId = id(`floor-${shape}${n}`);
      const repo = fresh(runId);
      const workDir = path.join(home, 'baseline', runId);
      const run = await m.runBaseline({ repo, runId, shape, n, workDir, maxParallel, env: { ...process.env, BENCH_COMMAND: command } });
      await watch.settle();
      const left = await watch.cleanup('baseline', runId);
      run.ok = run.exitCode === 0;
      run.shape = shape;
      run.n = n;
      run.containers = m.containerStats(watch.of('baseline', runId));
      run.leftContainers = left;
      if (!run.ok) {
        run.error = run.stderr.trim().split('\n').slice(-3).join(' ').replace(/\s+/g, ' ').slice(0, 600);
        failures.push(`${runId} (baseline ${shape} ${n}): ${run.error}`);
        log(`baseline   ${shape} ${n}: FAILED (exit ${run.exitCode}): ${run.error}`);
        return run;
      }
      run.ttfasMs = run.containers.firstStart !== undefined ? run.containers.firstStart - run.t0 : undefined;
      log(`baseline   ${shape} ${n}: ${sec(run.wallMs)} (first agent start ${msf(run.ttfasMs)}, ${run.containers.maxConcurrent} at once)`);
      return run;
    }

    /** reps × (agentvisor, baseline), alternating which goes first. */
    async function pairs(reps, a, b) {
      const av = [];
      const bl = [];
      for (let r = 0; r < reps; r++) {
        if (r % 2 === 0) {
          av.push(await a());
          bl.push(await b());
        } else {
          bl.push(await b());
          av.push(await a());
        }
      }
      return { av, bl };
    }

    const results = { started: started.toISOString(), versions, config: CFG, loadAvgStart: load0 };

    // Warm-up: the first run pays for page cache, the worker's first workflow task, image layers.
    log('warm-up');
    await agentvisor('parallel', 1);
    await baseline('parallel', 1);

    // Parallel scaling (n = 1 is also the per-task overhead and the time to first agent start).
    results.parallel = [];
    for (const n of CFG.parallel) {
      const reps = n === 1 ? CFG.overheadReps : n >= CFG.largeN ? CFG.largeReps : CFG.reps;
      const { av, bl } = await pairs(
        reps,
        () => agentvisor('parallel', n, { histories: 'all' }),
        () => baseline('parallel', n, { maxParallel: WORKER_ACTIVITY_SLOTS }),
      );
      results.parallel.push({ n, reps, av, bl });
    }

    // A chain of dependent tasks.
    if (CFG.chain > 0) {
      const { av, bl } = await pairs(
        CFG.chainReps,
        () => agentvisor('chain', CFG.chain, { histories: 'all' }),
        () => baseline('chain', CFG.chain),
      );
      results.chain = { n: CFG.chain, reps: CFG.chainReps, av, bl };
    }

    // Fan-out/fan-in: history size of the parent workflow.
    if (CFG.fan > 0) {
      const { av, bl } = await pairs(
        CFG.fanReps,
        () => agentvisor('fan', CFG.fan, { histories: 'all' }),
        () => baseline('fan', CFG.fan, { maxParallel: WORKER_ACTIVITY_SLOTS }),
      );
      results.fan = { n: CFG.fan, reps: CFG.fanReps, av, bl };
    }

    // Resource use at N agents running at once (each sleeps, so they overlap).
    if (CFG.rssAgents > 0) {
      const command = `sleep ${CFG.rssSleep}; ${TRIVIAL}`;
      const idle = env.procStatus(worker.pid);
      const reset = env.resetPeakRss(worker.pid);
      const av = await agentvisor('parallel', CFG.rssAgents, { command });
      const after = env.procStatus(worker.pid);
      const bl = await baseline('parallel', CFG.rssAgents, { command });
      results.rss = {
        n: CFG.rssAgents,
        sleep: CFG.rssSleep,
        workerIdleKb: idle?.rssKb,
        workerPeakKb: reset ? after?.hwmKb : undefined,
        workerLifetimePeakKb: after?.hwmKb,
        hwmReset: reset,
        cliPeakKb: av.peakRssKb,
        baselineTreePeakKb: bl.treePeakRssKb,
        av,
        bl,
      };
    }

    // Profiles: a worker and a CLI under --cpu-prof, for one 1-task run and one 10-task run.
    if (CFG.profile) {
      log('profiling (worker and CLI under --cpu-prof)');
      const dir = path.join(home, 'profiles');
      await worker.stop();
      const pw = await env.startWorker(runEnv, { home, name: 'worker-prof', nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}/worker`] });
      worker = pw;
      const one = await agentvisor('parallel', 1, { cliNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}/cli`] });
      const ten = await agentvisor('parallel', 10);
      await pw.stop();
      const pick = (d) =>
        fs.existsSync(d)
          ? fs
              .readdirSync(d)
              .filter((f) => f.endsWith('.cpuprofile'))
              .map((f) => path.join(d, f))
          : [];
      const cliProf = pick(`${dir}/cli`)[0];
      const workerProf = pick(`${dir}/worker`)[0];
      results.profile = {
        runs: [one.wallMs, ten.wallMs],
        cli: cliProf ? prof.summarize(prof.load(cliProf)) : undefined,
        worker: workerProf ? prof.summarize(prof.load(workerProf)) : undefined,
        files: { cli: cliProf, worker: workerProf },
      };
    }

    if (CFG.gateway) {
      try {
        results.gateway = await gatewayBench.runGatewayBench({ quick, log: (l) => log(`gateway: ${l}`), appRoot: env.app.root });
      } catch (err) {
        failures.push(`gateway bench: ${err.message}`);
        log(`gateway bench FAILED: ${err.message}`);
      }
    }

    results.failures = failures;
    if (failures.length) keepHome = true;
    results.finished = new Date().toISOString();
    results.loadAvgEnd = os.loadavg();
    results.durationS = (Date.now() - started.getTime()) / 1000;
    const out = render(results);
    process.stdout.write(`\n${out.terminal}\n`);
    const raw = path.join(os.tmpdir(), `agentvisor-bench-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(raw, JSON.stringify(strip(results), null, 1));
    log(`raw results: ${raw}`);
    if (CFG.out) {
      writeGenerated(CFG.out, out.markdown, PREAMBLE);
      log(`wrote ${path.relative(process.cwd(), CFG.out) || CFG.out}`);
    }
  } catch (err) {
    keepHome = true;
    throw err;
  } finally {
    await stopAll();
    if (!CFG.keep && !keepHome) fs.rmSync(home, { recursive: true, force: true });
    else log(`kept ${home}`);
  }
}

/** Raw results without the bulky history events. */
function strip(results) {
  return JSON.parse(
    JSON.stringify(results, (k, v) => {
      if (k === 'events' && Array.isArray(v)) return undefined;
      if (k === 'byTask' && v instanceof Map) return undefined;
      if (v instanceof Map) return Object.fromEntries(v);
      return v;
    }),
  );
}

const PREAMBLE = `# Benchmarks

What agentvisor adds on top of docker and git, and how it scales. Every figure is measured by
\`npm run bench\` (see \`bench/\`) on the machine named below, beside a baseline measured in the same
run: \`bench/baseline.sh\`, a plain script that does the same steps directly.`;

// --- rendering -------------------------------------------------------------------------------------

const CATEGORIES = [
  ['CLI / script process (start-up, validation, connect, exit)', (k) => k.startsWith('CLI') || k.startsWith('script')],
  ['Temporal: workflow + child start, workflow tasks, task-queue waits', (k) => k.startsWith('Temporal')],
  ['integration branch (prepareRun) + merge (mergeTasks)', (k) => /prepareRun|mergeTasks|^merge: /.test(k)],
  ['worktree add (+ chown)', (k) => /provisionWorkspace|task: worktree|task: chown|task: merge-deps/.test(k)],
  ['container: create, start, agent, exit, remove', (k) => /runAgent|^container|removeContainers/.test(k)],
  ['commit (collectOutput)', (k) => /collectOutput|task: commit/.test(k)],
  ['worktree remove (removeWorkspace)', (k) => /removeWorkspace|task: cleanup/.test(k)],
  ['report (writeReport)', (k) => /writeReport/.test(k)],
];
const categoryOf = (k) => (CATEGORIES.find(([, f]) => f(k)) || ['other'])[0];

function medianSegments(list) {
  const keys = new Set(list.flatMap((s) => [...s.keys()]));
  const out = new Map();
  for (const k of keys) out.set(k, median(list.map((s) => s.get(k) ?? 0)));
  return out;
}

function byCategory(segments) {
  const out = new Map(CATEGORIES.map(([c]) => [c, 0]));
  for (const [k, v] of segments) out.set(categoryOf(k), (out.get(categoryOf(k)) || 0) + v);
  return out;
}

function render(R) {
  const V = R.versions;
  const md = [];
  const term = [];
  const both = (s) => {
    md.push(s);
    term.push(s);
  };
  const ok = (runs) => runs.filter((r) => r.ok);
  const wall = (runs) => median(ok(runs).map((r) => r.wallMs));
  const of = (runs, reps) => {
    const bad = runs.length - ok(runs).length;
    const base = reps === 1 ? 'one run' : `median of ${ok(runs).length}`;
    return bad ? `${base}; ${bad} of ${runs.length} run${runs.length > 1 ? 's' : ''} FAILED, see below` : base;
  };
  const both2 = (a, b) => `${of(a, a.length)}${b.some((r) => !r.ok) ? '; a baseline run failed' : ''}`;

  md.push(`Measured ${R.started.slice(0, 16).replace('T', ' ')} UTC, ${Math.round(R.durationS)} s in all.`);
  md.push('');
  md.push(
    `Machine: ${V.cores} cores (${V.cpuModel}), ${V.memoryGiB} GiB, Linux ${V.kernel}; load average ${R.loadAvgStart
      .map((x) => x.toFixed(1))
      .join(' / ')} at the start and ${R.loadAvgEnd.map((x) => x.toFixed(1)).join(' / ')} at the end (1/5/15 min).`,
  );
  md.push(`Versions: Node ${V.node}; Docker ${V.docker}; Temporal CLI ${V.temporal}; @temporalio/* ${V.temporalio}; git ${V.git}.`);
  md.push('');

  const p1 = R.parallel.find((p) => p.n === 1);
  const rows = [];
  if (p1) {
    const a = wall(p1.av);
    const b = wall(p1.bl);
    rows.push([
      `Per-task overhead: 1 trivial task, \`run\` → exit (${both2(p1.av, p1.bl)})`,
      sec(a),
      sec(b),
      ratio(a, b),
      `+${sec(a - b)}`,
    ]);
    const ta = median(ok(p1.av).map((r) => r.ttfasMs));
    const tb = median(ok(p1.bl).map((r) => r.ttfasMs));
    rows.push([
      `Time to first agent start, warm server and worker (${both2(p1.av, p1.bl)})`,
      sec(ta),
      sec(tb),
      ratio(ta, tb),
      `+${sec(ta - tb)}`,
    ]);
  }
  for (const p of R.parallel) {
    const a = wall(p.av);
    const b = wall(p.bl);
    rows.push([
      `${p.n} parallel task${p.n > 1 ? 's' : ''}: wall time; tasks/s (${both2(p.av, p.bl)})`,
      a === undefined ? 'failed' : `${sec(a)}; ${(p.n / (a / 1000)).toFixed(2)}/s`,
      `${sec(b)}; ${(p.n / (b / 1000)).toFixed(2)}/s`,
      ratio(a, b),
      a === undefined ? 'n/a' : `+${sec((a - b) / p.n)}/task`,
    ]);
  }
  if (R.chain) {
    const a = wall(R.chain.av);
    const b = wall(R.chain.bl);
    rows.push([
      `Chain of ${R.chain.n} dependent tasks: wall time (${both2(R.chain.av, R.chain.bl)})`,
      a === undefined ? 'failed' : `${sec(a)} (${sec(a / R.chain.n)}/task)`,
      `${sec(b)} (${sec(b / R.chain.n)}/task)`,
      ratio(a, b),
      a === undefined ? 'n/a' : `+${sec((a - b) / R.chain.n)}/task`,
    ]);
  }
  if (R.fan) {
    const a = wall(R.fan.av);
    const b = wall(R.fan.bl);
    rows.push([
      `Fan-out/fan-in of ${R.fan.n} tasks (1 → ${R.fan.n - 2} → 1): wall time (${both2(R.fan.av, R.fan.bl)})`,
      a === undefined ? 'failed' : `${sec(a)}; ${(R.fan.n / (a / 1000)).toFixed(2)}/s`,
      `${sec(b)}; ${(R.fan.n / (b / 1000)).toFixed(2)}/s`,
      ratio(a, b),
      a === undefined ? 'n/a' : `+${sec((a - b) / R.fan.n)}/task`,
    ]);
  }
  if (R.rss) {
    const s = R.rss;
    rows.push([
      `Peak RSS at ${s.n} concurrent agents (each \`sleep ${s.sleep}\`): worker / CLI${s.av.ok ? '' : ' (the run FAILED)'}`,
      `${mib(s.workerPeakKb ?? s.workerLifetimePeakKb)} / ${mib(s.cliPeakKb)}`,
      `${mib(s.baselineTreePeakKb)} (script + its docker CLIs)`,
      ratio((s.workerPeakKb ?? s.workerLifetimePeakKb) + s.cliPeakKb, s.baselineTreePeakKb),
      `worker idle ${mib(s.workerIdleKb)}; ${s.av.containers.maxConcurrent} / ${s.bl.containers.maxConcurrent} containers at once`,
    ]);
  }
  both('## Results');
  both('');
  both(table(['measure', 'agentvisor', 'baseline (floor)', 'ratio', 'over the floor'], rows));
  both('');
  if (R.failures?.length) {
    both(`**${R.failures.length} run${R.failures.length > 1 ? 's' : ''} did not complete** (left out of the medians):`);
    both('');
    for (const f of R.failures) both(`- ${f}`);
    both('');
  }

  // History of the parent workflow.
  const hist = [];
  const histRow = (label, runs) => {
    for (const r of runs) {
      if (!r.parent) continue;
      const kids = r.children || [];
      const maxKid = kids.reduce((x, h) => (h.count > (x?.count ?? -1) ? h : x), undefined);
      hist.push([
        `${label}${r.ok ? '' : ' (failed run)'}`,
        r.parent.count,
        kib(r.parent.bytes),
        kib(r.parent.jsonBytes),
        maxKid ? `${maxKid.count} / ${kib(maxKid.bytes)}` : 'n/a',
        r.retries ?? 'n/a',
      ]);
    }
  };
  for (const p of R.parallel)
    histRow(
      `${p.n} parallel`,
      [ok(p.av)[0] ?? p.av[0], ...p.av.filter((r) => !r.ok)].filter((x, i, a) => x && a.indexOf(x) === i),
    );
  if (R.chain) histRow(`chain of ${R.chain.n}`, R.chain.av);
  if (R.fan) histRow(`fan-out/fan-in of ${R.fan.n}`, R.fan.av);
  md.push('### Temporal history of the parent workflow');
  md.push('');
  md.push(
    'Limits of a Temporal server (defaults): 51,200 events or 50 MiB per workflow history (warnings at 10,240 events and 10 MiB). ' +
      'Each task is a child workflow, so the parent grows by a few events per task, not by the events of the task’s activities. ' +
      '“activity retries” counts activity attempts beyond the first in the parent and all children.',
  );
  md.push('');
  md.push(
    table(
      ['graph', 'parent events', 'parent size (protobuf)', 'parent size (JSON)', 'largest child: events / size', 'activity retries'],
      hist,
    ),
  );
  md.push('');

  // Where the time goes, one task.
  const oneTask = p1 ? ok(p1.av).filter((r) => r.children?.length === 1 && r.parent) : [];
  if (oneTask.length) {
    const avSeg = medianSegments(oneTask.map((r) => m.oneTaskSegments(r, r.parent, r.children[0], r.containers)));
    const blSeg = medianSegments(ok(p1.bl).map((r) => m.baselineSegments(r, r.containers)));
    const avCat = byCategory(avSeg);
    const blCat = byCategory(blSeg);
    const catRows = CATEGORIES.map(([c]) => [
      c,
      msf(avCat.get(c)),
      msf(blCat.get(c)),
      `${avCat.get(c) - blCat.get(c) >= 0 ? '+' : ''}${msf(avCat.get(c) - blCat.get(c))}`,
    ]);
    const sum = (mp) => [...mp.values()].reduce((a, b) => a + b, 0);
    if (avCat.get('other') || blCat.get('other')) catRows.push(['other', msf(avCat.get('other') || 0), msf(blCat.get('other') || 0), '']);
    catRows.push(['total (sum of medians)', msf(sum(avCat)), msf(sum(blCat)), `+${msf(sum(avCat) - sum(blCat))}`]);
    both('### Where the time goes: one trivial task, end to end');
    both('');
    md.push(
      'Consecutive segments of each run, from the Temporal histories of the parent and the child workflow, the Docker events of the ' +
        'container and the CLI process; for the floor, from `baseline.sh`’s own step timestamps and the same Docker events. Medians per ' +
        'segment, so the totals differ a little from the medians above.',
    );
    md.push('');
    both(table(['step', 'agentvisor', 'floor', 'difference'], catRows));
    both('');
    const detail = [...avSeg].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, msf(v), categoryOf(k)]);
    md.push('<details><summary>agentvisor segments in detail</summary>');
    md.push('');
    md.push(table(['segment', 'median', 'counted under'], detail));
    md.push('');
    md.push('</details>');
    md.push('');
    const bdetail = [...blSeg].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, msf(v)]);
    md.push('<details><summary>floor segments in detail</summary>');
    md.push('');
    md.push(table(['segment', 'median'], bdetail));
    md.push('');
    md.push('</details>');
    md.push('');
  }

  // Activities at scale.
  const scaleRuns = [
    ...R.parallel.filter((p) => p.n > 1).map((p) => [`${p.n} parallel`, ok(p.av)[0] ?? p.av[0]]),
    ...(R.chain ? [[`chain of ${R.chain.n}`, ok(R.chain.av)[0] ?? R.chain.av[0]]] : []),
    ...(R.fan ? [[`fan-out/fan-in of ${R.fan.n}`, ok(R.fan.av)[0] ?? R.fan.av[0]]] : []),
  ].filter(([, run]) => run?.children?.length);
  if (scaleRuns.length) {
    md.push('### At scale: container start latency and activities');
    md.push('');
    md.push(
      'How long agents wait to start: from `runAgent` being scheduled to the container’s start event (this includes retries and ' +
        'the wait for one of the worker’s container-start slots, `AGENTVISOR_CONTAINER_STARTS`), and Docker’s own create → start. ' +
        '`runAgent` heartbeats while it waits and while the container starts. Then why activities were retried.',
    );
    md.push('');
    const rowsL = scaleRuns.map(([label, run]) => {
      const l = run.agentStarts || { scheduledToStart: [], createToStart: [] };
      const mx = (xs) => (xs.length ? Math.max(...xs) : undefined);
      return [
        `${label}${run.ok ? '' : ' (failed run)'}`,
        l.scheduledToStart.length,
        `${msf(median(l.scheduledToStart))} / ${msf(mx(l.scheduledToStart))}`,
        `${msf(median(l.createToStart))} / ${msf(mx(l.createToStart))}`,
      ];
    });
    md.push(
      table(['graph', 'containers', 'runAgent scheduled → container start (median / max)', 'docker create → start (median / max)'], rowsL),
    );
    md.push('');
    // over every run of each graph, not only the one shown above
    const reasons = [];
    const allRuns = [
      ...R.parallel.filter((p) => p.n > 1).map((p) => [`${p.n} parallel`, p.av]),
      ...(R.chain ? [[`chain of ${R.chain.n}`, R.chain.av]] : []),
      ...(R.fan ? [[`fan-out/fan-in of ${R.fan.n}`, R.fan.av]] : []),
    ];
    for (const [label, runs] of allRuns) {
      const withKids = runs.filter((r) => r.children);
      const hs = withKids.flatMap((r) => [r.parent, ...r.children]).filter(Boolean);
      for (const [msg, count] of m.failureReasons(hs))
        reasons.push([`${label} (${withKids.length} run${withKids.length > 1 ? 's' : ''})`, msg, count]);
    }
    if (reasons.length) {
      md.push(table(['graph', 'retry or failure', 'count'], reasons));
      md.push('');
    }
    md.push('Median queue wait and execution per activity:');
    md.push('');
    const rowsA = [];
    for (const [label, run] of scaleRuns) {
      const totals = m.activityTotals([run.parent, ...run.children].filter(Boolean));
      for (const [name, t] of totals) {
        rowsA.push([
          label,
          name,
          t.count,
          msf(median(t.queueMs)),
          msf(Math.max(...t.queueMs)),
          msf(median(t.execMs)),
          msf(Math.max(...t.execMs)),
        ]);
      }
    }
    md.push(
      table(['graph', 'activity', 'count', 'queue wait (median)', 'queue wait (max)', 'execution (median)', 'execution (max)'], rowsA),
    );
    md.push('');
  }

  // Profiles.
  if (R.profile) {
    const P = R.profile;
    md.push('### CPU profiles (node --cpu-prof)');
    md.push('');
    if (P.cli) {
      md.push(
        `CLI, one 1-task run: ${sec(P.cli.wallMs)} wall, ${msf(P.cli.cpuMs)} on the CPU, of which ${msf(P.cli.moduleLoadMs)} loading modules ` +
          `(require) and ${msf(P.cli.gcMs)} in GC; the rest of the wall time it waits.`,
      );
      md.push('');
      md.push(
        table(
          ['CLI: self time by package', 'ms'],
          P.cli.byPackage.map(([k, v]) => [k, msf(v)]),
        ),
      );
      md.push('');
    }
    if (P.worker) {
      md.push(
        `Worker, start-up then a 1-task and a 10-task run: ${msf(P.worker.cpuMs)} on the CPU over ${sec(P.worker.wallMs)}, ` +
          `${msf(P.worker.moduleLoadMs)} of it loading modules, ${msf(P.worker.gcMs)} in GC.`,
      );
      md.push('');
      md.push(
        table(
          ['worker: self time by package', 'ms'],
          P.worker.byPackage.map(([k, v]) => [k, msf(v)]),
        ),
      );
      md.push('');
      md.push(
        table(
          ['worker: top functions (self time)', 'ms'],
          P.worker.topFunctions.slice(0, 8).map(([k, v]) => [`\`${k}\``, msf(v)]),
        ),
      );
      md.push('');
    }
  }

  // Raw samples.
  md.push('<details><summary>every run (wall time, time to first agent start)</summary>');
  md.push('');
  const raw = [];
  const addRaw = (label, runs) =>
    runs.forEach((r, i) =>
      raw.push([label, r.kind, i + 1, r.ok ? 'ok' : 'FAILED', sec(r.wallMs), msf(r.ttfasMs), r.containers.maxConcurrent, r.retries ?? '']),
    );
  for (const p of R.parallel) {
    addRaw(`${p.n} parallel`, p.av);
    addRaw(`${p.n} parallel`, p.bl);
  }
  if (R.chain) {
    addRaw(`chain ${R.chain.n}`, R.chain.av);
    addRaw(`chain ${R.chain.n}`, R.chain.bl);
  }
  if (R.fan) {
    addRaw(`fan ${R.fan.n}`, R.fan.av);
    addRaw(`fan ${R.fan.n}`, R.fan.bl);
  }
  if (R.rss) {
    addRaw(`rss ${R.rss.n}`, [R.rss.av]);
    addRaw(`rss ${R.rss.n}`, [R.rss.bl]);
  }
  md.push(table(['case', 'who', 'rep', 'status', 'wall', 'first agent start', 'containers at once', 'activity retries'], raw));
  md.push('');
  md.push('</details>');
  md.push('');
  md.push(
    `Configuration: ${Object.entries(R.config)
      .filter(([k]) => k !== 'out')
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
      .join(', ')}.`,
  );
  if (R.gateway) {
    md.push('');
    md.push(gatewayBench.section(R.gateway.markdown));
    term.push('', R.gateway.markdown);
  }
  return { markdown: md.join('\n'), terminal: term.join('\n') };
}

/** bench/large-repo.js, its own process, its own server and worker: it writes its own section. */
function largeRepo() {
  if (process.env.BENCH_LARGE_REPO === '0') return;
  const extra = [...(quick ? ['--files', '2000'] : []), ...(args.has('--no-write') ? ['--no-write'] : [])];
  const r = require('node:child_process').spawnSync(process.execPath, [path.join(__dirname, 'large-repo.js'), ...extra], {
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`bench/large-repo.js failed (exit ${r.status})`);
}

main()
  .then(largeRepo)
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
