#!/usr/bin/env node
// The gateway's cost in every model call: the gateway beside direct calls and nginx as a plain
// reverse proxy, against the same local upstream, on this machine.
//
//   node bench/gateway.js [--quick] [--no-write]    this part alone (writes its section of BENCHMARKS.md)
//   npm run bench                                   runs it too, as part of the whole suite
//
// What runs (all on 127.0.0.1, started and stopped here):
//   upstream   bench/lib/gateway-upstream.js: Anthropic-like JSON answers and SSE streams
//   direct     the load generator calls the upstream itself: the floor
//   nginx      Debian's nginx-light (installed with apt-get if missing), a plain reverse proxy:
//              upstream keep-alive, proxy_buffering off (so streams pass), access log to a file
//   gateway    the bundle (dist/gateway/gateway.bundle.js) as the gateway container runs it, here in
//              a process on the host (`node gateway.bundle.js --config FILE`), with a config shaped
//              like the one activities/gateway.ts writes (a task token, a credential from the
//              environment, a control listener of its own); its log lines go to a file
// Load: wrk (Debian's, installed if missing; C, two threads) for requests/s and latency; for streams,
// bench/lib/gateway-streams.js opens all streams at once and times every event.
// CPU is utime+stime of the proxy's processes from /proc/PID/stat (nginx: master and workers)
// around the 50-client run, divided by the requests it answered; RSS is VmRSS after it.
// BENCH_GW_BUNDLE=FILE measures another build of the bundle (a before/after pair).
// Durations: BENCH_GW_SECONDS (default 10; --quick 2), BENCH_GW_STREAMS (200; 50), BENCH_GW_EVENTS (50; 20).
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { table } = require('./lib/report');

const ROOT = path.join(__dirname, '..');
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const WARM_UP_S = 3;

function ensureApt(binary, pkg, log) {
  try {
    execFileSync('which', [binary], { stdio: 'ignore' });
  } catch {
    log(`${binary} is missing: apt-get install -y ${pkg}`);
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'ignore' });
  }
}

/** utime+stime in µs of the given processes, and their RSS in KiB. */
function cpuAndRss(pids) {
  let ticks = 0;
  let rssKb = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      rssKb += m ? Number(m[1]) : 0;
    } catch {
      // gone
    }
  }
  return { cpuUs: (ticks * 1e6) / CLK_TCK, rssKb };
}

const childrenOf = (pid) =>
  fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);

function toMs(v) {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(v);
  if (!m) return undefined;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2]];
}

/** wrk, run under bash so that its own CPU time can be read afterwards (bash's cutime+cstime). */
function wrk(args, seconds) {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-c', 'wrk "$@"; cat /proc/$$/stat', 'wrk', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.stderr.on('data', (c) => (out += c));
    p.on('error', reject);
    p.on('close', () => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const count = /(\d+) requests in/.exec(out);
      const lat = (q) => {
        const m = new RegExp(`\\n\\s+${q}%\\s+(\\S+)`).exec(out);
        return m ? toMs(m[1]) : undefined;
      };
      const statLine = out.trim().split('\n').pop();
      const f = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
      const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
      const sockErr = /Socket errors:(.*)/.exec(out);
      if (!rps || !count) return reject(new Error(`wrk ${args.join(' ')}: no result:\n${out}`));
      resolve({
        rps: Number(rps[1]),
        requests: Number(count[1]),
        p50: lat(50),
        p99: lat(99),
        errors: (non2xx ? Number(non2xx[1]) : 0) + (sockErr ? sockErr[1].match(/\d+/g).reduce((s, x) => s + Number(x), 0) : 0),
        wrkCpu: (Number(f[13]) + Number(f[14])) / CLK_TCK / seconds,
      });
    });
  });
}

function runNode(script, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (c) => (out += c));
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${script} exited ${code}`))));
  });
}

async function waitFor(fn, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function get(url, headers = {}, body, agent = false) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: body ? 'POST' : 'GET', agent, headers }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startUpstream(dir, events, interval) {
  const p = spawn(process.execPath, [path.join(__dirname, 'lib', 'gateway-upstream.js'), String(events), String(interval)], {
    stdio: ['ignore', 'pipe', fs.openSync(path.join(dir, 'upstream.log'), 'a')],
  });
  let out = '';
  p.stdout.on('data', (c) => (out += c));
  const port = await waitFor(() => /^(\d+)\n/.exec(out)?.[1], 'the upstream');
  return { pid: p.pid, port: Number(port), stop: () => p.kill('SIGTERM') };
}

async function startNginx(dir, upstreamPort) {
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `worker_processes auto;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/nginx-access.log;
  client_body_temp_path ${dir}/nginx-body;
  proxy_temp_path ${dir}/nginx-proxy;
  client_max_body_size 64m;
  upstream model { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://model;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`,
  );
  const p = spawn('nginx', ['-c', conf, '-p', dir, '-e', `${dir}/nginx-error.log`], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitFor(() => childrenOf(p.pid).length > 0 && fs.existsSync(`${dir}/nginx.pid`), 'nginx');
  await sleep(200);
  return { pids: () => [p.pid, ...childrenOf(p.pid)], port, stop: () => p.kill('SIGQUIT') };
}

async function startGateway(dir, upstreamPort, bundle) {
  const token = `bench-task-token-${randomBytes(8).toString('hex')}`;
  const config = {
    listen: { host: '127.0.0.1', port: 0 },
    control: { host: '127.0.0.1', port: 0 },
    controlToken: `bench-control-${randomBytes(8).toString('hex')}`,
    mode: 'live',
    providers: { anthropic: { kind: 'anthropic', upstream: `http://127.0.0.1:${upstreamPort}` } },
    tasks: { [token]: { taskId: 'bench', credentials: { anthropic: 'BENCH_ANTHROPIC_KEY' }, allowHosts: [] } },
  };
  const file = path.join(dir, 'gateway.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  const logFile = path.join(dir, 'gateway.log');
  const p = spawn(process.execPath, [bundle, '--config', file], {
    env: { ...process.env, BENCH_ANTHROPIC_KEY: `sk-bench-${randomBytes(8).toString('hex')}` },
    stdio: ['ignore', fs.openSync(logFile, 'a'), fs.openSync(logFile, 'a')],
  });
  const line = await waitFor(() => /listening on [^:]+:(\d+) control on [^:]+:(\d+)/.exec(fs.readFileSync(logFile, 'utf8')), 'the gateway');
  return {
    pids: () => [p.pid],
    port: Number(line[1]),
    controlPort: Number(line[2]),
    controlToken: config.controlToken,
    token,
    logFile,
    stop: () => new Promise((r) => (p.once('exit', r), p.kill('SIGTERM'))),
  };
}

function freePort() {
  return new Promise((resolve) => {
    const s = require('node:net').createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function luaScript(file, token, contentBytes) {
  fs.writeFileSync(
    file,
    `wrk.method = "POST"
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"' .. string.rep("x", ${contentBytes}) .. '"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "${token}"
`,
  );
  return file;
}

/** Measures one target: `pids` of its proxy processes (none for direct). */
async function measure(name, url, pids, { dir, token, seconds, streams, interval, log, upstreamPid }) {
  const small = luaScript(path.join(dir, `${name}-small.lua`), token, 2000);
  const large = luaScript(path.join(dir, `${name}-large.lua`), token, 256 * 1024);
  const d = `${seconds}s`;
  await wrk(['-t2', '-c10', `-d${WARM_UP_S}s`, '-s', small, url], WARM_UP_S); // warm-up: the JIT, the connection pools
  // What a keep-alive client is told about its connection (the upstream advertises timeout=61)
  const keepAlive = new http.Agent({ keepAlive: true });
  const head = await get(url, { 'content-type': 'application/json', 'x-api-key': token }, '{"model":"claude-sonnet-4-5"}', keepAlive);
  keepAlive.destroy();
  const hopByHop = HOP_BY_HOP.filter((h) => h in head.headers).map((h) => `${h}: ${head.headers[h]}`);
  const idle = cpuAndRss(pids());
  const before = cpuAndRss(pids());
  const upBefore = cpuAndRss([upstreamPid]);
  const c50 = await wrk(['-t2', '-c50', `-d${d}`, '--latency', '-s', small, url], seconds);
  const after = cpuAndRss(pids());
  const upAfter = cpuAndRss([upstreamPid]);
  log(
    `${name}: ${Math.round(c50.rps)} req/s at 50 clients, p50 ${c50.p50} ms p99 ${c50.p99} ms (wrk used ${(c50.wrkCpu * 100).toFixed(0)}% of a core)`,
  );
  const c1 = await wrk(['-t1', '-c1', `-d${d}`, '--latency', '-s', small, url], seconds);
  log(`${name}: 1 client p50 ${c1.p50} ms p99 ${c1.p99} ms`);
  const b2 = cpuAndRss(pids());
  const big = await wrk(['-t1', '-c4', `-d${d}`, '-s', large, url], seconds);
  const a2 = cpuAndRss(pids());
  const st = await runNode(path.join(__dirname, 'lib', 'gateway-streams.js'), [url, String(streams), String(interval), token]);
  log(`${name}: ${streams} streams, jitter p99 ${st.jitterP99?.toFixed(2)} ms, first event max ${st.firstByteMax?.toFixed(0)} ms`);
  const perReq = (a, b, n) => (pids().length && n ? (b.cpuUs - a.cpuUs) / n : undefined);
  return {
    name,
    rps: c50.rps,
    requests: c50.requests,
    errors: c50.errors + c1.errors + big.errors + st.failed,
    wrkCpu: c50.wrkCpu,
    cpuUsPerRequest: perReq(before, after, c50.requests),
    upstreamCpuUsPerRequest: (upAfter.cpuUs - upBefore.cpuUs) / c50.requests,
    cpuUsPerLargeRequest: perReq(b2, a2, big.requests),
    largeRps: big.rps,
    rssIdleKb: pids().length ? idle.rssKb : undefined,
    rssKb: pids().length ? after.rssKb : undefined,
    p50c1: c1.p50,
    p99c1: c1.p99,
    p50c50: c50.p50,
    p99c50: c50.p99,
    stream: st,
    hopByHop,
  };
}

async function runGatewayBench({ quick = false, log = (l) => process.stderr.write(`[bench gateway] ${l}\n`), appRoot = ROOT } = {}) {
  const seconds = Number(process.env.BENCH_GW_SECONDS ?? (quick ? 2 : 10));
  const streams = Number(process.env.BENCH_GW_STREAMS ?? (quick ? 50 : 200));
  const events = Number(process.env.BENCH_GW_EVENTS ?? (quick ? 20 : 50));
  const interval = 20;
  const bundle = path.resolve(process.env.BENCH_GW_BUNDLE ?? path.join(appRoot, 'dist', 'gateway', 'gateway.bundle.js'));
  if (!fs.existsSync(bundle)) throw new Error(`${bundle} is missing: npm run build first`);
  ensureApt('nginx', 'nginx-light', log);
  ensureApt('wrk', 'wrk', log);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agentvisor-bench-gateway-'));
  const load0 = os.loadavg();
  const started = new Date();
  const stops = [];
  try {
    const upstream = await startUpstream(dir, events, interval);
    stops.push(upstream.stop);
    const nginx = await startNginx(dir, upstream.port);
    stops.push(nginx.stop);
    const gateway = await startGateway(dir, upstream.port, bundle);
    stops.push(gateway.stop);
    const opts = { dir, token: gateway.token, seconds, streams, interval, log, upstreamPid: upstream.pid };
    const R = {};
    R.direct = await measure('direct', `http://127.0.0.1:${upstream.port}/v1/messages`, () => [], opts);
    R.nginx = await measure('nginx', `http://127.0.0.1:${nginx.port}/v1/messages`, nginx.pids, opts);
    R.gateway = await measure('gateway', `http://127.0.0.1:${gateway.port}/anthropic/v1/messages`, gateway.pids, opts);
    // The meter must have counted every call it answered: each wrk request, each stream, each probe.
    const usage = await get(`http://127.0.0.1:${gateway.controlPort}/_agentvisor/usage`, {
      'x-agentvisor-control-token': gateway.controlToken,
    });
    R.gatewayMetered = JSON.parse(usage.text).tasks.bench;
    R.gatewayLogLines = fs
      .readFileSync(gateway.logFile, 'utf8')
      .split('\n')
      .filter((l) => / task=bench /.test(l)).length;
    const result = {
      started: started.toISOString(),
      seconds,
      streams,
      events,
      interval,
      load: [load0, os.loadavg()],
      cores: os.cpus().length,
      node: process.version,
      nginx: 'unknown',
      R,
    };
    try {
      result.nginx = execFileSync('bash', ['-c', 'nginx -v 2>&1']).toString().trim().replace('nginx version: ', '');
    } catch {
      // unknown
    }
    return { result, markdown: render(result) };
  } finally {
    for (const stop of stops.reverse()) await Promise.resolve(stop()).catch(() => undefined);
    if (process.env.BENCH_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
  }
}

const f1 = (x) => (x === undefined ? 'n/a' : x.toFixed(x < 10 ? 2 : 0));
const ms = (x) => (x === undefined ? 'n/a' : `${x.toFixed(2)} ms`);
const us = (x) => (x === undefined ? 'n/a' : `${Math.round(x)} µs`);
const mib = (kb) => (kb === undefined ? 'n/a' : `${(kb / 1024).toFixed(0)} MiB`);

function render({ started, seconds, streams, events, interval, load, cores, node, nginx, R }) {
  const { direct: d, nginx: n, gateway: g } = R;
  const x = (a, b) => (a === undefined || b === undefined || !b ? 'n/a' : `${(a / b).toFixed(1)}×`);
  const plus = (a, b) => (a === undefined || b === undefined ? 'n/a' : `${a >= b ? '+' : '−'}${Math.abs(a - b).toFixed(2)} ms`);
  const rows = [
    ['requests/s, 50 clients', f1(d.rps), f1(n.rps), f1(g.rps), `${x(n.rps, g.rps)} fewer`],
    ['CPU per request (proxy processes)', '—', us(n.cpuUsPerRequest), us(g.cpuUsPerRequest), x(g.cpuUsPerRequest, n.cpuUsPerRequest)],
    ["the upstream's CPU per request (a bare Node server)", ...[d, n, g].map((t) => us(t.upstreamCpuUsPerRequest)), ''],
    [
      'CPU per request, 256 KiB body, 4 clients',
      '—',
      us(n.cpuUsPerLargeRequest),
      us(g.cpuUsPerLargeRequest),
      x(g.cpuUsPerLargeRequest, n.cpuUsPerLargeRequest),
    ],
    ['RSS idle → after the 50-client run', '—', `${mib(n.rssIdleKb)} → ${mib(n.rssKb)}`, `${mib(g.rssIdleKb)} → ${mib(g.rssKb)}`, ''],
    [
      'latency p50 / p99, 1 client',
      `${ms(d.p50c1)} / ${ms(d.p99c1)}`,
      `${ms(n.p50c1)} / ${ms(n.p99c1)}`,
      `${ms(g.p50c1)} / ${ms(g.p99c1)}`,
      `${plus(g.p50c1, d.p50c1)} / ${plus(g.p99c1, d.p99c1)} over direct`,
    ],
    [
      'latency p50 / p99, 50 clients',
      `${ms(d.p50c50)} / ${ms(d.p99c50)}`,
      `${ms(n.p50c50)} / ${ms(n.p99c50)}`,
      `${ms(g.p50c50)} / ${ms(g.p99c50)}`,
      `${plus(g.p50c50, d.p50c50)} / ${plus(g.p99c50, d.p99c50)} over direct`,
    ],
    [
      `stream jitter p50 / p99 / max, ${streams} streams`,
      ...[d, n, g].map((t) => `${ms(t.stream.jitterP50)} / ${ms(t.stream.jitterP99)} / ${ms(t.stream.jitterMax)}`),
      `${plus(g.stream.jitterP99, d.stream.jitterP99)} p99 over direct`,
    ],
    [
      `first event p50 / max, ${streams} streams at once`,
      ...[d, n, g].map((t) => `${ms(t.stream.firstByteP50)} / ${ms(t.stream.firstByteMax)}`),
      '',
    ],
    ['hop-by-hop headers answered to a keep-alive client', ...[d, n, g].map((t) => t.hopByHop.join(', ') || 'none'), ''],
    ['wrk errors (non-2xx, socket errors, 2 s timeouts) and failed streams', d.errors, n.errors, g.errors, ''],
    ['load generator (wrk) CPU in the 50-client run', ...[d, n, g].map((t) => `${(t.wrkCpu * 100).toFixed(0)}% of a core`), ''],
  ];
  const per1000 = [
    ['CPU per 1,000 requests (2 KB body)', `${f1(g.cpuUsPerRequest)} ms`, `${f1(n.cpuUsPerRequest)} ms`],
    ['CPU per 1,000 requests (256 KiB body)', `${f1(g.cpuUsPerLargeRequest)} ms`, `${f1(n.cpuUsPerLargeRequest)} ms`],
    [
      'RSS growth over the 50-client run, per 1,000 requests',
      `${f1(((g.rssKb - g.rssIdleKb) / g.requests) * 1000)} KiB`,
      `${f1(((n.rssKb - n.rssIdleKb) / n.requests) * 1000)} KiB`,
    ],
  ];
  const m = R.gatewayMetered;
  return [
    '## Gateway',
    '',
    `Measured ${started.slice(0, 16).replace('T', ' ')} UTC by \`node bench/gateway.js\`: ${seconds} s per wrk run, ${streams} streams of ${events} events ` +
      `${interval} ms apart. ${cores} cores; load average ${load[0].map((v) => v.toFixed(1)).join(' / ')} at the start, ` +
      `${load[1].map((v) => v.toFixed(1)).join(' / ')} at the end. Node ${node}; nginx ${nginx}. The gateway runs as a process on the host ` +
      '(the bundle its container runs); nginx with `worker_processes auto`.',
    '',
    table(['measure', 'direct', 'nginx', 'gateway', 'gateway against'], rows),
    '',
    table(['per 1,000 requests', 'gateway', 'nginx'], per1000),
    '',
    `The gateway metered ${m?.requests ?? 'n/a'} model calls (${m?.totalTokens ?? 'n/a'} tokens) and wrote ${R.gatewayLogLines} log lines for them.`,
  ].join('\n');
}

const GW_BEGIN = '<!-- bench:gateway:begin -->';
const GW_END = '<!-- bench:gateway:end -->';
const section = (markdown) => `${GW_BEGIN}\n${markdown.trim()}\n${GW_END}`;

/** Replaces the gateway section inside BENCHMARKS.md's generated part (or adds it at its end). */
function writeSection(file, markdown) {
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const b = text.indexOf(GW_BEGIN);
  const e = text.indexOf(GW_END);
  if (b >= 0 && e > b) text = text.slice(0, b) + section(markdown) + text.slice(e + GW_END.length);
  else {
    const end = text.indexOf('<!-- bench:end -->');
    text = end >= 0 ? `${text.slice(0, end)}${section(markdown)}\n${text.slice(end)}` : `${text.trimEnd()}\n\n${section(markdown)}\n`;
  }
  fs.writeFileSync(file, text);
}

module.exports = { runGatewayBench, section };

if (require.main === module) {
  const args = new Set(process.argv.slice(2));
  runGatewayBench({ quick: args.has('--quick') }).then(
    ({ result, markdown }) => {
      process.stdout.write(`${markdown}\n`);
      if (process.env.BENCH_GW_JSON) fs.writeFileSync(process.env.BENCH_GW_JSON, JSON.stringify(result, null, 2));
      if (!args.has('--no-write')) writeSection(path.join(ROOT, process.env.BENCH_OUT ?? 'BENCHMARKS.md'), markdown);
    },
    (err) => {
      process.stderr.write(`${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}
