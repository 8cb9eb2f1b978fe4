// Lint rules of herald, checked by `npm run check` (`npm run check:lint`): ESLint's and typescript-eslint's
// recommended sets, with the exceptions below, each saying why. Import layers and cycles are dependency-cruiser's
// (.dependency-cruiser.cjs); formatting is prettier's (.prettierrc).
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'data/', 'node_modules/', 'bench/report/', '.tmp/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_` names a value that is there on purpose and unused (a loop's element, a no-op method's parameters).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A `let` that closures read before its one assignment (wiring objects that refer to each other) cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tests, benchmarks and CLIs read the untyped JSON answers of the HTTP and admin APIs; typing each would add
    // interfaces that only repeat docs/protocol.md.
    files: ['test/**', 'bench/**', 'scripts/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
);
