// Setup file (see vitest.config.ts here): every policy synthesize() returns, in any test, is
// appended to $NETPOL_CAPTURE_POLICIES as JSON lines {test, path, policy}. In this process by
// wrapping the module with vi.mock; in the processes a test spawns (the CLI suites run the built
// CLI) by module hooks that NODE_OPTIONS loads into them (capture-child.mjs), told the test's name
// through $NETPOL_CAPTURE_TEST.
import { appendFileSync } from 'node:fs';
import { beforeEach, expect, vi } from 'vitest';

const testName = () => {
  const state = expect.getState();
  return `${(state.testPath ?? '?').replace(/^.*\/test\//, 'test/')} > ${state.currentTestName ?? '(setup)'}`;
};

if (process.env.NETPOL_CAPTURE_POLICIES) {
  const hook = `--import=${new URL('./capture-child.mjs', import.meta.url).href}`;
  const current = process.env.NODE_OPTIONS ?? '';
  if (!current.includes(hook)) process.env.NODE_OPTIONS = `${current} ${hook}`.trim();
  process.env.NETPOL_CAPTURE_TEST = testName();
  beforeEach(() => {
    process.env.NETPOL_CAPTURE_TEST = testName();
  });
}

vi.mock('../../../src/policy/synthesize/index.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../../src/policy/synthesize/index.js')>();
  const out = process.env.NETPOL_CAPTURE_POLICIES;
  return {
    ...mod,
    synthesize: (...args: Parameters<typeof mod.synthesize>) => {
      const result = mod.synthesize(...args);
      if (out) {
        const lines = result.policies.map((p) => JSON.stringify({ test: testName(), path: p.path, policy: p.policy }) + '\n');
        if (lines.length > 0) appendFileSync(out, lines.join(''));
      }
      return result;
    },
  };
});
