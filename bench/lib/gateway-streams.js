// Opens STREAMS streamed model calls at once to URL and times every event as it arrives; prints
// one JSON line: how far each gap between two events strays from the upstream's INTERVAL (jitter),
// and the time to the first event. A proxy that buffers shows gaps of 0 followed by long ones.
//   node bench/lib/gateway-streams.js URL STREAMS INTERVAL_MS TOKEN
'use strict';
const http = require('node:http');

const [url, streams, interval, token] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
const BODY = JSON.stringify({ stream: true, model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
const MARK = 'event: content_block_delta';

const quantile = (xs, q) => {
  if (!xs.length) return undefined;
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor(q * v.length))];
};

function one() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const times = [];
    let firstByte;
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY), 'x-api-key': token },
      },
      (res) => {
        let carry = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          const now = performance.now();
          firstByte ??= now - t0;
          const text = carry + chunk;
          let i = 0;
          for (;;) {
            const j = text.indexOf(MARK, i);
            if (j < 0) break;
            times.push(now);
            i = j + MARK.length;
          }
          carry = text.slice(Math.max(i, text.length - MARK.length));
        });
        res.on('end', () => resolve({ ok: res.statusCode === 200, times, firstByte }));
        res.on('error', () => resolve({ ok: false, times, firstByte }));
      },
    );
    req.on('error', () => resolve({ ok: false, times, firstByte }));
    req.end(BODY);
  });
}

(async () => {
  const results = await Promise.all(Array.from({ length: streams }, one));
  const jitter = [];
  for (const r of results) for (let k = 1; k < r.times.length; k++) jitter.push(Math.abs(r.times[k] - r.times[k - 1] - interval));
  const firstBytes = results.map((r) => r.firstByte).filter((x) => x !== undefined);
  process.stdout.write(
    JSON.stringify({
      streams,
      failed: results.filter((r) => !r.ok).length,
      events: results.reduce((s, r) => s + r.times.length, 0),
      jitterP50: quantile(jitter, 0.5),
      jitterP99: quantile(jitter, 0.99),
      jitterMax: quantile(jitter, 1),
      firstByteP50: quantile(firstBytes, 0.5),
      firstByteMax: quantile(firstBytes, 1),
    }) + '\n',
  );
})();
