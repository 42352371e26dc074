#!/usr/bin/env node
// What the connect stream's replay ring (src/daemon/connect-stream.ts, 8,192 entries for since=)
// holds: N connects of the shape the agent publishes (the kernel event, its flow record, the pod's
// identity, shared as in the agent), published into a ConnectStream, V8's heap measured before and
// after. Needs dist/ (npm run build).
//   node --expose-gc bench/replay-ring-memory.mjs [N=20000] [RING=8192]
import { ConnectStream } from '../dist/daemon/connect-stream.js';
const pod = { metadata: { name: 'loop', namespace: 'default', labels: { run: 'loop' } } };
const source = { pod, namespace: 'default', name: 'loop', container: 'loop' };
const N = Number(process.argv[2] ?? 8192);
const s = new ConnectStream(process.argv[3] ? { replayEntries: Number(process.argv[3]) } : {});
gc(); const h0 = process.memoryUsage().heapUsed;
for (let i = 0; i < N; i++) {
  const event = { tsNs: 123456789012345n + BigInt(i), latencyNs: 1000 + i, cgroupId: 98765n + BigInt(i % 7), pid: 1000 + i, tid: 1000 + i, uid: 0, gid: 0, mntns: 4026531840, netns: 4026532000, family: 4, saddr: `10.244.0.${i % 250}`, daddr: '203.0.113.10', sport: 30000 + (i % 30000), dport: 80, outcome: 'ok', source: 'state', proto: 'TCP', errno: 0, comm: 'nc' + (i % 3 ? '' : ' ') };
  const record = { v: 1, ts: new Date().toISOString(), node: 'netpol-node', proto: 'TCP', src: { ip: event.saddr, port: event.sport, namespace: 'default', pod: 'loop', container: 'loop', pid: event.pid, comm: event.comm }, dst: { ip: '203.0.113.10', port: 80, namespace: null, pod: null, service: null }, latencyNs: event.latencyNs, outcome: 'ok' };
  s.publish({ event, time: new Date(), record, source, node: 'netpol-node' }, i % 2 ? 'answer' : 'connect');
}
gc(); const h1 = process.memoryUsage().heapUsed; if (s.status().replayEntries === undefined) throw new Error("no ring");
console.log(`${N} published, ring ${process.argv[3] ?? 8192}: heap +${((h1 - h0) / 1048576).toFixed(2)} MiB, ${((h1 - h0) / Math.min(N, Number(process.argv[3] ?? 8192))).toFixed(0)} B/entry`);
