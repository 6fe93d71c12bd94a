#!/usr/bin/env node
// Writes the HAND-WRITTEN model traffic that experiment-claude.yaml replays: for each cell run's
// task, a cassette in the Anthropic Messages API's streamed wire format in which "the model" calls
// Claude Code's Read tool, then its Write tool, once per file (Claude Code refuses to overwrite a
// file it has not read; reading one that is not there yet is a harmless error), then answers. No model produced any of it: the file
// contents below are this example's, and the usage figures are made up (fixed per turn), so the
// tokens and cost the experiment reports measure nothing but these cassettes.
//   node make-cassettes.js [DIR]   (default: cassettes/ beside experiment-claude.yaml)
const fs = require('node:fs');
const path = require('node:path');

const SUBJECTS = path.join(__dirname, '..', 'subjects');
const read = (subject, file) => fs.readFileSync(path.join(SUBJECTS, subject, file), 'utf8');

const slug = `exports.slugify = (s) =>\n  s\n    .toLowerCase()\n    .replace(/[^a-z0-9]+/g, '-')\n    .replace(/^-+|-+$/g, '');\n`;
const slugTest = [
  "const test = require('node:test');",
  "const assert = require('node:assert');",
  "const { slugify } = require('../src/slug');",
  "test('lower-cases and joins words', () => assert.strictEqual(slugify('Hello World'), 'hello-world'));",
  "test('drops punctuation', () => assert.strictEqual(slugify('a, b & c!'), 'a-b-c'));",
  '',
].join('\n');
const renamed = (text) => text.replace(/\bcalc\b/g, 'computeTotal');

/** What each part writes, per subject: [path in the workspace, content]. */
const WRITES = {
  'new-function': {
    writer: [['src/slug.js', slug]],
    tester: [['test/slug.test.js', slugTest]],
    auditor: [['src/slug.js', '// slugify: lower-case words joined by dashes (reviewed)\n' + slug]],
  },
  'bug-fix': {
    writer: [
      [
        'src/parse.js',
        read('bug-fix', 'src/parse.js').replace(
          '    out[k] = v; // BUG: keys and values keep their spaces',
          '    out[k.trim()] = v.trim();',
        ),
      ],
    ],
    tester: [
      [
        'test/regression.test.js',
        "const test = require('node:test');\nconst assert = require('node:assert');\nconst { parse } = require('../src/parse');\ntest('spaces around = are ignored', () => assert.deepStrictEqual(parse('k = v'), { k: 'v' }));\n",
      ],
    ],
    auditor: [['src/format.js', read('bug-fix', 'src/format.js').replace('    .slice(1) // BUG: drops the first pair\n', '')]],
  },
  refactor: {
    writer: [
      ['src/util.js', renamed(read('refactor', 'src/util.js'))],
      ['src/app.js', renamed(read('refactor', 'src/app.js'))],
    ],
    tester: [
      [
        'test/util.test.js',
        "const test = require('node:test');\nconst assert = require('node:assert');\nconst util = require('../src/util');\ntest('computeTotal sums price times quantity', () => assert.strictEqual(util.computeTotal([{ price: 1, qty: 2 }, { price: 3, qty: 1 }]), 5));\n",
      ],
    ],
    auditor: [['src/util.js', '/** The invoice total: the sum of price times quantity. */\n' + renamed(read('refactor', 'src/util.js'))]],
  },
};

/** The single agent does all three parts: the last content of each file. */
function singleWrites(subject) {
  const files = new Map();
  for (const part of ['writer', 'tester', 'auditor']) for (const [p, c] of WRITES[subject][part]) files.set(p, c);
  if (subject === 'refactor') files.set('src/app.js', renamed(read('refactor', 'src/app.js')));
  return [...files];
}

const event = (e, data) => ({ event: e, data });
/** One streamed turn: a tool call (Read or Write), or (call undefined) the final answer. Usage fixed per turn. */
function turn(task, n, call) {
  const id = `msg_${task}_${n}`;
  const start = event('message_start', {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model: 'claude-sonnet-4-5',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 1000, cache_creation_input_tokens: 0, cache_read_input_tokens: 2000, output_tokens: 1 },
    },
  });
  const body = call
    ? [
        event('content_block_start', {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'tool_use', id: `toolu_${task}_${n}`, name: call.tool, input: {} },
        }),
        event('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'input_json_delta', partial_json: JSON.stringify(call.input) },
        }),
      ]
    : [
        event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
        event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Done.' } }),
      ];
  return {
    request: {
      provider: 'anthropic',
      method: 'POST',
      path: '/v1/messages',
      model: 'claude-sonnet-4-5',
      note: call ? `turn ${n}: ${call.tool} ${call.input.file_path}` : `turn ${n}: the answer`,
    },
    response: {
      headers: { 'request-id': `req_${task}_${n}` },
      events: [
        start,
        ...body,
        event('content_block_stop', { type: 'content_block_stop', index: 0 }),
        event('message_delta', {
          type: 'message_delta',
          delta: { stop_reason: call ? 'tool_use' : 'end_turn', stop_sequence: null },
          usage: { output_tokens: call ? 200 : 10 },
        }),
        event('message_stop', { type: 'message_stop' }),
      ],
    },
  };
}

function cassette(dir, task, files) {
  const calls = files.flatMap(([p, content]) => [
    { tool: 'Read', input: { file_path: `/workspace/${p}` } },
    { tool: 'Write', input: { file_path: `/workspace/${p}`, content } },
  ]);
  const interactions = [...calls.map((c, i) => turn(task, i + 1, c)), turn(task, calls.length + 1)];
  fs.mkdirSync(dir, { recursive: true });
  const header = '# HAND-WRITTEN by make-cassettes.js: no model produced this. Usage figures are made up.\n';
  fs.writeFileSync(path.join(dir, `${task}.yaml`), header + JSON.stringify({ version: 1, task, interactions }, null, 1) + '\n');
}

// The layout --replay reads: DIR/<subject>/<arm>/r<N>[/c<K>]/<task>.yaml (the arms of experiment-claude.yaml)
const out = path.resolve(process.argv[2] ?? path.join(__dirname, 'cassettes'));
const REPEAT = 2;
for (const subject of Object.keys(WRITES)) {
  for (let r = 1; r <= REPEAT; r++) {
    const at = (...p) => path.join(out, subject, ...p, `r${r}`);
    cassette(at('single'), 'solve', singleWrites(subject));
    for (const arm of ['serial', 'parallel']) {
      cassette(at(arm), 'write', WRITES[subject].writer);
      cassette(at(arm), 'test', WRITES[subject].tester);
      cassette(at(arm), 'audit', WRITES[subject].auditor);
    }
    for (const k of [1, 2]) cassette(path.join(at('best-of-2'), `c${k}`), 'solve', singleWrites(subject));
  }
}
console.log(`wrote the hand-written cassettes into ${out}`);
