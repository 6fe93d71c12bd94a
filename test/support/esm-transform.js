// Jest runs CommonJS; a few dependencies (@kubernetes/client-node 1.x and the ES modules it imports)
// ship only ES modules. This transform turns those files into CommonJS for the tests (esbuild), as
// Node's own require does for the compiled program.
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, { format: 'cjs', loader: 'js', target: 'node20', sourcefile: filename, sourcemap: true });
    return { code, map };
  },
};
