// Module hooks (see capture-child.mjs): an import of the built synthesizer,
// dist/policy/synthesize/index.js, gets a wrapper module instead, which re-exports everything and
// appends each policy synthesize() returns to $NETPOL_CAPTURE_POLICIES as JSON lines
// {test, path, policy}, `test` being the test that spawned the process ($NETPOL_CAPTURE_TEST).
const SCHEME = 'netpol-capture:';
const TARGET = /\/dist\/policy\/synthesize\/index\.js$/;

export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith(SCHEME)) return { url: specifier, shortCircuit: true };
  const resolved = await nextResolve(specifier, context);
  // The wrapper's own import of the original is not redirected again.
  if (TARGET.test(resolved.url) && !context.parentURL?.startsWith(SCHEME)) {
    return { url: `${SCHEME}${resolved.url}`, shortCircuit: true };
  }
  return resolved;
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith(SCHEME)) return nextLoad(url, context);
  const original = JSON.stringify(url.slice(SCHEME.length));
  const source = `
import { appendFileSync } from 'node:fs';
import * as original from ${original};
export * from ${original};
export function synthesize(...args) {
  const result = original.synthesize(...args);
  const out = process.env.NETPOL_CAPTURE_POLICIES;
  if (out) {
    const test = process.env.NETPOL_CAPTURE_TEST ?? '?';
    const lines = result.policies.map((p) => JSON.stringify({ test, path: p.path, policy: p.policy }) + '\\n');
    if (lines.length > 0) appendFileSync(out, lines.join(''));
  }
  return result;
}
`;
  return { format: 'module', source, shortCircuit: true };
}
