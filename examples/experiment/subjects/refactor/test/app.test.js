const test = require('node:test');
const assert = require('node:assert');
const { invoice } = require('../src/app');
test('invoice total', () => assert.strictEqual(invoice([{ price: 2, qty: 3 }]), 'total: 6'));
