/** Jest runs the TypeScript sources through ts-jest in transpile-only mode (isolatedModules
 *  in tsconfig.json); `npm run typecheck` does the type checking once, up front. */
const os = require('os');

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/guests/'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 120000,
  // The long test files first, so that the workers finish together (test/sequencer.js).
  testSequencer: '<rootDir>/test/sequencer.js',
  // At least two workers: Jest's default (the cores less one) is one on a 2-core machine,
  // and the long tests spend their time in child processes (vpio runs, QEMU), not in Jest.
  maxWorkers: Math.max(2, os.cpus().length - 1),
};
