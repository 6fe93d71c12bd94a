# scripted tester: tests the function under the name it finds in its workspace
name=calc; grep -q computeTotal src/util.js && name=computeTotal
cat > test/util.test.js <<JS
const test = require('node:test');
const assert = require('node:assert');
const util = require('../src/util');
test('$name sums price times quantity', () => assert.strictEqual(util.$name([{ price: 1, qty: 2 }, { price: 3, qty: 1 }]), 5));
JS
echo "wrote test/util.test.js for $name"
