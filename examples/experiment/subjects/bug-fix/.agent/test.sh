# scripted tester: a regression test for the reported bug
cat > test/regression.test.js <<'JS'
const test = require('node:test');
const assert = require('node:assert');
const { parse } = require('../src/parse');
test('spaces around = are ignored', () => assert.deepStrictEqual(parse('k = v'), { k: 'v' }));
JS
echo "wrote test/regression.test.js"
