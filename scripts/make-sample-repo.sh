#!/usr/bin/env bash
# Makes the small Node project the demo graph works on: a git repository with one commit on main.
set -euo pipefail
dir=${1:?usage: make-sample-repo.sh DIR}
rm -rf "$dir"
mkdir -p "$dir/src" "$dir/test"
cd "$dir"
git init -q -b main
cat > package.json <<'JSON'
{ "name": "sample", "version": "1.0.0", "private": true, "scripts": { "test": "node --test test/" } }
JSON
cat > src/math.js <<'JS'
exports.add = (a, b) => a + b;
JS
cat > test/math.test.js <<'JS'
const test = require('node:test');
const assert = require('node:assert');
const { add } = require('../src/math');
test('add', () => assert.strictEqual(add(2, 3), 5));
JS
git add -A
git -c user.name=agentvisor -c user.email=agentvisor@localhost commit -q -m 'sample project'
echo "sample repository ready: $dir"
