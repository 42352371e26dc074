// What the profile sink costs the agent per connect: the synthesizer's resolveFlow against the
// cluster index, the connect's identity, and the writer's accept (journal write included), over
// the demo recording, with no API server (writes fail and back off; nothing is lost).
//   npm run build && node bench/profile-sink-cost.mjs
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { buildIndex } from '../dist/cluster/lookup.js';
import { loadSnapshot } from '../dist/cluster/snapshot.js';
import { readAllFlows } from '../dist/flows/jsonl.js';
import { resolveFlow } from '../dist/policy/traffic.js';
import { observationOf } from '../dist/cluster/profile/identity.js';
import { ProfileWriter } from '../dist/cluster/profile/writer.js';
const index = buildIndex(loadSnapshot([new URL('../fixtures/demo/cluster.yaml', import.meta.url).pathname]));
const flows = await readAllFlows([new URL('../fixtures/demo/flows.jsonl', import.meta.url).pathname]);
const kc = new KubeConfig();
kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
const w = await ProfileWriter.start({ kc, node: 'n', journalDir: mkdtempSync(join(tmpdir(), 'sink-cost-')), flushIntervalMs: 0, gcIntervalMs: 0 });
const N = 200_000;
const rss0 = process.memoryUsage().rss;
const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) {
  const f = flows[i % flows.length];
  w.accept(observationOf(resolveFlow(f, index), new Date().toISOString()));
}
const c = process.cpuUsage(c0);
console.log(JSON.stringify({ connects: N, cpuMicrosPerConnect: +((c.user + c.system) / N).toFixed(2), cpuPercentAt1000PerSecond: +(((c.user + c.system) / N) * 1000 / 1e4).toFixed(2), rssMiB: +(process.memoryUsage().rss / 2 ** 20).toFixed(0), rssGrowthMiB: +((process.memoryUsage().rss - rss0) / 2 ** 20).toFixed(1), status: w.status() }));
await w.close(new Date());
