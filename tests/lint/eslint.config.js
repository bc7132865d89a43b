'use strict';
// ESLint for the JavaScript (node/lib, node/test, tests/interop,
// tests/adversary, bench, examples/node), run by scripts/test.sh
// (tests/lint/CMakeLists.txt): the recommended rules, no style rules (the
// code's own style is kept by review).
const js = require('@eslint/js');
const globals = require('globals');

module.exports = [
  js.configs.recommended,
  // the tests keep directives for stricter configurations than this one
  { linterOptions: { reportUnusedDisableDirectives: 'off' } },
  {
    files: ['**/*.js'],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'commonjs',
      globals: { ...globals.node },
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: { ...globals.node },
    },
  },
];
