# scripted tester: tests what it finds; with no slugify in its workspace yet, it has nothing to test
if [ ! -f src/slug.js ]; then echo "no src/slug.js in my workspace: nothing to test"; exit 0; fi
cat > test/slug.test.js <<'JS'
const test = require('node:test');
const assert = require('node:assert');
const { slugify } = require('../src/slug');
test('lower-cases and joins words', () => assert.strictEqual(slugify('Hello World'), 'hello-world'));
test('drops punctuation', () => assert.strictEqual(slugify('a, b & c!'), 'a-b-c'));
test('trims dashes', () => assert.strictEqual(slugify('  -x-  '), 'x'));
JS
echo "wrote test/slug.test.js"
