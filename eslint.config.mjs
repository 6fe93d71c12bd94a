// Lint: typescript-eslint's recommended rules on the product, the tests and the tools; formatting is
// Prettier's alone (eslint-config-prettier turns off the rules that would disagree with it).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'test-artifacts/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_name` marks a parameter or binding kept for its position
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // a `require(...) as typeof import(...)` is a typed lazy load: tracing and rarely used
      // commands load their modules only when used, keeping the CLI's start quick
      '@typescript-eslint/no-require-imports': 'off',
      // agents' text is searched for control characters on purpose (workflows/text-safety.ts)
      'no-control-regex': 'off',
      // errors are rewritten into messages for people; a cause chain would change what the run's
      // report says (workflows/failure.ts reports the root cause), and some causes quote secrets
      'preserve-caught-error': 'off',
    },
  },
  {
    // tests poke at untyped JSON and deliberately malformed input
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
