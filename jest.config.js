/**
 * Two projects, both run by `npm test`:
 * - unit: files named `*.unit.test.ts` — pure logic, no MariaDB, Redis, network peers or child
 *   processes; the whole project runs in seconds (`npm run test:unit`, needs no services).
 * - integration: every other `*.test.ts` — real MariaDB, Redis and protocol peers; each file isolates
 *   itself (own database, own Redis prefix), so files run in parallel.
 */
const shared = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }] },
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  setupFilesAfterEnv: ['<rootDir>/test/setup-after-env.ts'],
};

module.exports = {
  maxWorkers: process.env.JEST_WORKERS || 2,
  // Integration tests wait on real services; unit tests get 10 s (test/setup-after-env.ts).
  testTimeout: 60_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['**/*.unit.test.ts'],
      setupFiles: [...shared.setupFiles, '<rootDir>/test/setup-unit.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['**/*.test.ts'],
      // test/cluster/ starts its own Redis Cluster and kills its nodes: `npm run test:cluster` runs it (WWP_CLUSTER_TESTS=1).
      testPathIgnorePatterns: ['\\.unit\\.test\\.ts$', ...(process.env.WWP_CLUSTER_TESTS ? [] : ['/test/cluster/'])],
    },
  ],
};
