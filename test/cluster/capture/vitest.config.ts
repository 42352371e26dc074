// Runs the unit suites with every synthesize() result recorded (see capture-policies.ts), so the e2e
// suite k8s-dry-run can send every policy the test suite generates to the real API server.
// Built by hand rather than with mergeConfig: mergeConfig concatenates `include` arrays, which would
// pull in the e2e suites (and k8s-dry-run would start itself again, recursively).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import base from '../../../vitest.config.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export default defineConfig({
  root,
  test: {
    ...base.test,
    // The suites that run the synthesizer (directly, or through learn/check and the CLI);
    // performance experiments are left out, they only repeat the same policies at scale.
    include: ['test/unit/synth-*.test.ts', 'test/unit/*learn*.test.ts', 'test/unit/cli-*.test.ts', 'test/unit/*check*.test.ts'],
    exclude: ['**/node_modules/**', 'test/e2e/**', '**/*perf*', '**/*bench*'],
    // No cluster, no root: unit suites only.
    globalSetup: [],
    setupFiles: [fileURLToPath(new URL('./capture-policies.ts', import.meta.url))],
  },
});
