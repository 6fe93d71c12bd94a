const test = require('node:test');
const assert = require('node:assert');
test('has a version', () => assert.strictEqual(require('../src/index').version, '1.0.0'));
