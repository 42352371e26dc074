/**
 * UDP request/response rate between two network namespaces, untraced and with the tracer's UDP
 * hooks attached (cgroup connect/sendmsg/recvmsg on the cgroup v2 root): what observing UDP, and
 * telling replies from sends, costs a DNS-like exchange. Every query goes from a new client socket
 * (as busybox's resolver does), so every query is a first send and every answer a first reply.
 *   sudo npx vite-node bench/udp-pingpong.ts [queries] [rounds]
 */
import { execFileSync } from 'node:child_process';
import { TcpConnectTracer } from '../src/agent/tracer.js';
import { Netns, destroyAll, link } from '../test/e2e/support/netns.js';

const queries = Number(process.argv[2] ?? 20000);
const rounds = Number(process.argv[3] ?? 3);
const client = Netns.create('npbc');
const server = Netns.create('npbs');
const wire = link(client, server);
const srv = server.spawn([process.execPath, '-e', `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(53,'${wire.ipv4B}')`]);
await new Promise((r) => setTimeout(r, 500));
const CLIENT = `
  const dgram = require('node:dgram');
  let left = ${queries}, inflight = 0; const t0 = process.hrtime.bigint();
  const one = () => { const s = dgram.createSocket('udp4'); inflight++; s.on('message', () => { s.close(); inflight--; if (left > 0) { left--; one(); } else if (inflight === 0) done(); }); s.send('q', 53, '${wire.ipv4B}'); };
  const done = () => { const s = Number(process.hrtime.bigint() - t0) / 1e9; console.log(JSON.stringify({ rate: ${queries} / s })); };
  for (let i = 0; i < 16; i++) { left--; one(); }`;
const run = (): number => JSON.parse(execFileSync('nsenter', [`--net=/run/netns/${client.name}`, '--', process.execPath, '-e', CLIENT], { encoding: 'utf8' })).rate;
const out: Record<string, number[]> = { untraced: [], traced: [] };
try {
  for (let r = 0; r < rounds; r++) {
    out.untraced!.push(run());
    const t = new TcpConnectTracer({ udp: true, programs: [] });
    let events = 0;
    t.start(() => events++);
    out.traced!.push(run());
    t.drain();
    const replies = t.udpReplies();
    t.close();
    process.stderr.write(`round ${r}: events ${events}, replies not reported ${replies}\n`);
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  console.log(JSON.stringify({ queries, rounds, untracedPerS: Math.round(med(out.untraced!)), tracedPerS: Math.round(med(out.traced!)), ratio: +(med(out.traced!) / med(out.untraced!)).toFixed(3), all: out }));
} finally {
  srv.kill('SIGKILL');
  destroyAll();
}
