const test = require('node:test');
const assert = require('node:assert');
const { parse } = require('../src/parse');
const { format } = require('../src/format');
test('round trip', () => assert.strictEqual(format(parse('a = 1; b=2')), 'a=1;b=2'));
test('parse trims', () => assert.deepStrictEqual(parse(' x = 3 '), { x: '3' }));
