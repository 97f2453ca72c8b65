import { defineConfig } from 'vitest/config';

// Integration suites start real daemons as child processes; generous timeouts keep them
// stable on a loaded 2-core machine. Files run in parallel, tests inside a file in order.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file's temp dirs go when its tests are done (test/support/per-file.ts).
    setupFiles: ['test/support/per-file.ts'],
    // The JSON report is what CI counts (.ci/run prints "N passed, N failed" from it).
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
  },
});
