#!/usr/bin/env node
// Runs the compiled CLI; in a checkout without a build, builds it first (npm install does too).
const path = require('node:path');
const fs = require('node:fs');
const root = path.join(__dirname, '..');
const entry = path.join(root, 'dist', 'client', 'cli.js');
if (!fs.existsSync(entry)) {
  require('node:child_process').execSync('npm run build --silent', { cwd: root, stdio: 'inherit' });
}
require(entry)
  .main(process.argv)
  .then((code) => process.exit(code));
