// Runs the suites that synthesize policies with every synthesize() result recorded (see
// capture-policies.ts), so the e2e suite k8s-dry-run can send every policy the test suite
// generates to the real API server.
// Built by hand rather than with mergeConfig: mergeConfig concatenates `include` arrays, which would
// pull in the e2e suites (and k8s-dry-run would start itself again, recursively).
import { fileURLToPath } from 'node:url';
// tinyglobby is the glob engine vitest itself finds test files with, so a glob matches here
// exactly what it matches when vitest runs.
import { globSync } from 'tinyglobby';
import { defineConfig } from 'vitest/config';
import base from '../../../vitest.config.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

// The suites that run the synthesizer: directly (synth-*), through the learn screen's model
// (views-learn-*.tsx), through `check` (report-check-cli, in process), and through the built CLI
// in a child process (test/cli: offline learns the seed and demo recordings, flows-parallel
// learns on worker threads; captured there by module hooks, see capture-child.mjs).
// Performance experiments are left out, they only repeat the same policies at scale.
const include = ['test/unit/synth-*.test.ts', 'test/unit/*learn*.test.{ts,tsx}', 'test/unit/*check*.test.ts', 'test/cli/*.test.ts'];
const exclude = ['**/node_modules/**', 'test/e2e/**', '**/*perf*', '**/*bench*'];

// A glob that matches no file captures nothing and says nothing: refuse to run instead.
const empty = include.filter((glob) => globSync(glob, { cwd: root, ignore: exclude }).length === 0);
if (empty.length > 0) {
  throw new Error(`test/cluster/capture/vitest.config.ts: include glob(s) ${empty.map((g) => JSON.stringify(g)).join(', ')} match no test file`);
}

export default defineConfig({
  root,
  test: {
    ...base.test,
    include,
    exclude,
    // No cluster, no root: unit and CLI suites only.
    globalSetup: [],
    setupFiles: [fileURLToPath(new URL('./capture-policies.ts', import.meta.url))],
  },
});
