import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // e2e suites share the kernel, docker and one API server; running files in parallel would
    // make them fight over network namespaces and ports.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 600_000,
    globalSetup: ['test/global-setup.ts'],
  },
});
