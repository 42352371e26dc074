// Setup file (see vitest.config.ts here): wraps synthesize() so that every policy it returns, in any
// test, is appended to $NETPOL_CAPTURE_POLICIES as JSON lines {test, path, policy}.
import { appendFileSync } from 'node:fs';
import { expect, vi } from 'vitest';

vi.mock('../../../src/policy/synthesize/index.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../../src/policy/synthesize/index.js')>();
  const out = process.env.NETPOL_CAPTURE_POLICIES;
  return {
    ...mod,
    synthesize: (...args: Parameters<typeof mod.synthesize>) => {
      const result = mod.synthesize(...args);
      if (out) {
        const state = expect.getState();
        const test = `${(state.testPath ?? '?').replace(/^.*\/test\//, 'test/')} > ${state.currentTestName ?? '?'}`;
        const lines = result.policies.map((p) => JSON.stringify({ test, path: p.path, policy: p.policy }) + '\n');
        if (lines.length > 0) appendFileSync(out, lines.join(''));
      }
      return result;
    },
  };
});
