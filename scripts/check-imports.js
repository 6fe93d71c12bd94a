#!/usr/bin/env node
// The layout's rules, checked on the imports of the product's TypeScript (tests and tools aside):
// - no import circle, type-only imports included (a circle of types still ties two files' meaning);
// - nothing outside client/ imports from client/ (the CLI and the API sit on top of everything);
// - workflows/ takes values only from the folders of the workflow bundle (workers/version.ts:
//   workflows/, contract/, graph/), code that must replay deterministically; the rest it may name
//   as types.
// Prints each breach and exits 1; silent when the tree keeps them.
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const root = path.resolve(__dirname, '..');
const SKIP = new Set(['node_modules', 'dist', 'test', 'bench', 'scripts', 'test-artifacts', 'deploy', 'docs', 'examples', '.git']);
// (from the build: `npm run build` first)
const { WORKFLOW_SOURCES } = require('../dist/workers/version');

function sources(dir = root) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return SKIP.has(e.name) ? [] : sources(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

function resolve(from, spec) {
  if (!spec.startsWith('.')) return undefined; // a package
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
}

/** Each relative import of a file: where it leads and whether it carries only types. */
function importsOf(file) {
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const add = (spec, typeOnly) => {
    const target = resolve(file, spec);
    if (target) found.push({ target, typeOnly });
  };
  const visit = (node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const clause = ts.isImportDeclaration(node) ? node.importClause : node;
      let typeOnly = !!clause?.isTypeOnly;
      // `import { type A, type B }`: every name a type
      const named = ts.isImportDeclaration(node) ? clause?.namedBindings : node.exportClause;
      if (!typeOnly && named && (ts.isNamedImports(named) || ts.isNamedExports(named)) && named.elements.length > 0 && !clause?.name) {
        typeOnly = named.elements.every((e) => e.isTypeOnly);
      }
      add(node.moduleSpecifier.text, typeOnly);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      ts.isStringLiteral(node.arguments[0] ?? {})
    ) {
      add(node.arguments[0].text, false);
    } else if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'require' &&
      ts.isStringLiteral(node.arguments[0] ?? {})
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const rel = (f) => path.relative(root, f);
const top = (f) => rel(f).split(path.sep)[0];
const graph = new Map(sources().map((f) => [f, importsOf(f)]));
const breaches = [];

for (const [file, imports] of graph) {
  for (const { target, typeOnly } of imports) {
    if (top(target) === 'client' && top(file) !== 'client')
      breaches.push(`${rel(file)} imports ${rel(target)}: only client/ may import from client/`);
    if (top(file) === 'workflows' && !typeOnly && !WORKFLOW_SOURCES.includes(top(target))) {
      breaches.push(`${rel(file)} imports values from ${rel(target)}: workflows take values only from ${WORKFLOW_SOURCES.join('/, ')}/`);
    }
  }
}

// circles: depth-first search, each reported once by its members
const state = new Map();
const seen = new Set();
const stack = [];
const walk = (file) => {
  state.set(file, 'open');
  stack.push(file);
  for (const { target } of graph.get(file) ?? []) {
    if (!graph.has(target)) continue;
    if (state.get(target) === 'open') {
      const circle = stack.slice(stack.indexOf(target)).map(rel);
      const key = [...circle].sort().join(' ');
      if (!seen.has(key)) {
        seen.add(key);
        breaches.push(`import circle: ${[...circle, rel(target)].join(' → ')}`);
      }
    } else if (!state.has(target)) walk(target);
  }
  stack.pop();
  state.set(file, 'done');
};
for (const file of graph.keys()) if (!state.has(file)) walk(file);

if (breaches.length) {
  for (const b of breaches) console.error(b);
  process.exit(1);
}
