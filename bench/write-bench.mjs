// Writing a policy tree (`writePolicyTree`, built in dist/ or the given dist directory): a fresh
// tree of N policies, the same tree again (nothing changes), and one file changed. Usage:
// node bench/write-bench.mjs [policies] [distDir]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const n = Number(process.argv[2] ?? 1000);
const dist = resolve(process.argv[3] ?? new URL('../dist', import.meta.url).pathname);
const { writePolicyTree } = await import(join(dist, 'policy/write.js'));
const result = (port) => ({
  policies: Array.from({ length: n }, (_, i) => ({
    path: `ns${i % 10}/w${i}.yaml`,
    workload: {},
    policy: {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `w${i}`, namespace: `ns${i % 10}`, labels: { 'app.kubernetes.io/managed-by': 'netpol' } },
      spec: { podSelector: { matchLabels: { app: `w${i}` } }, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'TCP', port: i === 0 ? port : 80 }] }] },
    },
  })),
  widened: [],
  warnings: [],
});
const dir = mkdtempSync(join(tmpdir(), 'netpol-write-bench-'));
const out = join(dir, 'out');
const ms = async (f) => {
  const s = process.hrtime.bigint();
  await f(); // writePolicyTree is async since it creates files concurrently (a sync one is awaited alike)
  return Math.round(Number(process.hrtime.bigint() - s) / 1e6);
};
try {
  const fresh = await ms(() => writePolicyTree(out, result(443)));
  const unchanged = await ms(() => writePolicyTree(out, result(443)));
  const oneChanged = await ms(() => writePolicyTree(out, result(8443)));
  console.log(JSON.stringify({ bench: 'write', policies: n, dist, freshMs: fresh, unchangedMs: unchanged, oneChangedMs: oneChanged }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
