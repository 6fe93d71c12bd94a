#!/usr/bin/env node
// Two builds of the gateway bundle side by side, for a before/after figure on a busy machine:
// one upstream, both gateways running, wrk at 50 clients against each in turn for short slices, so
// that the machine's load (other people's work) falls on both alike. Reports the median CPU per
// request (utime+stime of each gateway process over its slices) and requests/s; the first rounds
// (the JIT's warm-up) are not counted.
//   node bench/gateway-ab.js BEFORE.bundle.js AFTER.bundle.js [--large | --streams]
// BENCH_AB_ROUNDS (default 10; 3 more to warm up), BENCH_AB_SECONDS (2 per slice);
// --large sends 256 KiB bodies (4 clients) instead of 2 KB ones; --streams opens BENCH_AB_STREAMS
// (200) streams of 50 events 20 ms apart at once per slice instead (bench/lib/gateway-streams.js)
// and reports the medians of the slowest first event, the jitter p99 and the CPU per event.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const [A, B] = process.argv.slice(2, 4).map((f) => path.resolve(f));
const large = process.argv.includes('--large');
const streams = process.argv.includes('--streams') ? Number(process.env.BENCH_AB_STREAMS ?? 200) : 0;
const EVENTS = 50;
const rounds = Number(process.env.BENCH_AB_ROUNDS ?? 10);
const warm = 3;
const seconds = Number(process.env.BENCH_AB_SECONDS ?? 2);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const TOKEN = 'bench-ab-task-token-0123456789';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuUs = (pid) => {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  if (!A || !B) throw new Error('usage: node bench/gateway-ab.js BEFORE.bundle.js AFTER.bundle.js [--large]');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentvisor-bench-gateway-ab-'));
  const procs = [];
  try {
    const up = spawn(process.execPath, [path.join(__dirname, 'lib', 'gateway-upstream.js'), String(EVENTS), '20'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    procs.push(up);
    let out = '';
    up.stdout.on('data', (c) => (out += c));
    while (!out.includes('\n')) await sleep(50);
    const upstreamPort = Number(out.trim());
    const lua = path.join(dir, 'body.lua');
    fs.writeFileSync(
      lua,
      `wrk.method = "POST"
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"' .. string.rep("x", ${large ? 256 * 1024 : 2000}) .. '"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "${TOKEN}"
`,
    );
    const gateways = [];
    for (const [i, bundle] of [A, B].entries()) {
      const config = path.join(dir, `gateway-${i}.json`);
      fs.writeFileSync(
        config,
        JSON.stringify({
          listen: { host: '127.0.0.1', port: 0 },
          providers: { anthropic: { kind: 'anthropic', upstream: `http://127.0.0.1:${upstreamPort}` } },
          tasks: { [TOKEN]: { taskId: 'bench', credentials: { anthropic: 'BENCH_AB_KEY' } } },
        }),
      );
      const log = path.join(dir, `gateway-${i}.log`);
      const p = spawn(process.execPath, [bundle, '--config', config], {
        env: { ...process.env, BENCH_AB_KEY: 'sk-bench-ab' },
        stdio: ['ignore', fs.openSync(log, 'w'), 'inherit'],
      });
      procs.push(p);
      let m;
      while (!(m = /listening on [^:]+:(\d+)/.exec(fs.readFileSync(log, 'utf8')))) await sleep(50);
      gateways.push({ name: i ? 'after' : 'before', bundle, pid: p.pid, port: Number(m[1]), slices: [] });
    }
    for (let r = 0; r < warm + rounds; r++) {
      for (const g of r % 2 ? [...gateways].reverse() : gateways) {
        const c0 = cpuUs(g.pid);
        if (streams) {
          const st = JSON.parse(
            execFileSync(process.execPath, [
              path.join(__dirname, 'lib', 'gateway-streams.js'),
              `http://127.0.0.1:${g.port}/anthropic/v1/messages`,
              String(streams),
              '20',
              TOKEN,
            ]).toString(),
          );
          if (st.failed) throw new Error(`${g.name}: ${st.failed} streams failed`);
          if (r >= warm) g.slices.push({ us: (cpuUs(g.pid) - c0) / st.events, firstMax: st.firstByteMax, jitterP99: st.jitterP99 });
          continue;
        }
        const text = execFileSync('wrk', [
          large ? '-t1' : '-t2',
          large ? '-c4' : '-c50',
          `-d${seconds}s`,
          '-s',
          lua,
          `http://127.0.0.1:${g.port}/anthropic/v1/messages`,
        ]).toString();
        const n = Number(/(\d+) requests in/.exec(text)[1]);
        if (r >= warm) g.slices.push({ us: (cpuUs(g.pid) - c0) / n, rps: n / seconds });
      }
    }
    const load = os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' / ');
    if (streams) {
      const rows = gateways.map((g) => ({
        build: g.name,
        bundle: g.bundle,
        cpuUsPerEvent: Math.round(median(g.slices.map((s) => s.us))),
        firstEventMaxMs: Math.round(median(g.slices.map((s) => s.firstMax))),
        jitterP99Ms: Number(median(g.slices.map((s) => s.jitterP99)).toFixed(2)),
      }));
      process.stdout.write(`${JSON.stringify({ streams, events: EVENTS, rounds, load, rows })}\n`);
      return;
    }
    const rows = gateways.map((g) => ({
      build: g.name,
      bundle: g.bundle,
      cpuUsPerRequest: Math.round(median(g.slices.map((s) => s.us))),
      requestsPerSecond: Math.round(median(g.slices.map((s) => s.rps))),
    }));
    process.stdout.write(`${JSON.stringify({ body: large ? '256 KiB, 4 clients' : '2 KB, 50 clients', rounds, seconds, load, rows })}\n`);
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
