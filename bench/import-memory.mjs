#!/usr/bin/env node
// What loading a module costs, and where that memory is: imports each module given (a package name
// or a path relative to the repository) in a fresh node process of its own, with the agent's young
// generation (--max-semi-space-size=1), runs a full GC, and prints RSS, V8's heap (committed, used,
// and the used/committed of the spaces that matter: old, large objects — where source text over
// ~128 KB lands —, code), external memory and what is outside both (malloc'd by Node, V8's parser
// and compiler, thread stacks). `bare` is node itself.
//   node bench/import-memory.mjs bare @kubernetes/client-node dist/daemon/node-agent.js dist/bundle/agent.js
// (dist/bundle/agent.js and dist/cli/main.js run the CLI when imported: they get `agent --help`.)
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
const probe = `
const m = process.argv[1];
if (m !== 'bare') await import(m.startsWith('.') || m.startsWith('/') ? ${JSON.stringify('file://')} + m : m);
await new Promise((r) => setTimeout(r, 100));
gc();
const v8 = await import('node:v8');
const mib = (b) => (b / 1048576).toFixed(1);
const u = process.memoryUsage();
const sp = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name.replace(/_space$/, ''), mib(s.space_used_size) + '/' + mib(s.physical_space_size)]));
process.stdout.write(JSON.stringify({ rss: mib(u.rss), heapCommitted: mib(u.heapTotal), heapUsed: mib(u.heapUsed), old: sp.old, largeObject: sp.large_object, code: sp.code, external: mib(u.external), outside: mib(u.rss - u.heapTotal - u.external) }));
`;
for (const m of process.argv.slice(2)) {
  const target = m === 'bare' || !/^(dist|bench|\.|\/)/.test(m) ? m : resolve(repo, m);
  const argv = /(^|\/)(dist\/bundle\/agent|dist\/cli\/main)\.js$/.test(m) ? ['agent', '--help'] : [];
  const out = execFileSync(process.execPath, ['--expose-gc', '--max-semi-space-size=1', '--input-type=module', '-e', probe, target, ...argv], { cwd: repo, encoding: 'utf8', env: { ...process.env, NETPOL_NO_FORCE_EXIT: '1', NODE_ENV: 'production' } });
  const r = JSON.parse(out.slice(out.lastIndexOf('{"rss"')));
  console.log(`${m.padEnd(34)} RSS ${r.rss.padStart(6)} MiB · heap ${r.heapCommitted} committed, ${r.heapUsed} used (old ${r.old}, large objects ${r.largeObject}, code ${r.code}) · external ${r.external} · outside the heap ${r.outside}`);
}
