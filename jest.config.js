/** Jest runs the TypeScript sources through ts-jest in transpile-only mode
 *  (isolatedModules); `npm run typecheck` does the type checking once, up front. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/cpu', '<rootDir>/devices', '<rootDir>/hypervisor', '<rootDir>/vpio', '<rootDir>/cli', '<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testTimeout: 120000,
};
