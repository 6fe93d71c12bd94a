// Summaries of V8 CPU profiles (node --cpu-prof): where a process spent its CPU, by package and by
// function, and how much of it went to loading modules.
'use strict';
const fs = require('node:fs');

function load(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** node_modules/<pkg>, dist/<folder>, node:internal, or a V8 pseudo-frame. */
function packageOf(url) {
  if (!url) return '(native/V8)';
  const nm = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (nm) return nm[1];
  const dist = url.match(/\/dist\/([^/]+)/);
  if (dist) return `agentvisor ${dist[1]}/`;
  if (url.startsWith('node:')) return 'node core';
  return url.replace(/^.*\//, '');
}

function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
  const dt = profile.timeDeltas;
  const self = new Map();
  const selfByPkg = new Map();
  let totalMs = 0;
  let idleMs = 0;
  let gcMs = 0;
  let moduleLoadMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const d = (dt[i + 1] ?? 0) / 1000;
    totalMs += d;
    let id = profile.samples[i];
    const leaf = byId.get(id);
    const fn = leaf.callFrame.functionName;
    if (fn === '(idle)') {
      idleMs += d;
      continue;
    }
    if (fn === '(garbage collector)') gcMs += d;
    const key = `${fn || '(anonymous)'} ${leaf.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${leaf.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) || 0) + d);
    const pkg = fn.startsWith('(') ? fn : packageOf(leaf.callFrame.url);
    selfByPkg.set(pkg, (selfByPkg.get(pkg) || 0) + d);
    let loading = false;
    while (id !== undefined) {
      const n = byId.get(id);
      if (n.callFrame.functionName === 'Module._load') loading = true;
      id = parent.get(id);
    }
    if (loading) moduleLoadMs += d;
  }
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
  return {
    wallMs: (profile.endTime - profile.startTime) / 1000,
    cpuMs: totalMs - idleMs,
    idleMs,
    gcMs,
    moduleLoadMs,
    byPackage: top(selfByPkg, 12),
    topFunctions: top(self, 12),
  };
}

module.exports = { load, summarize };
