/**
 * UDP replies on the real kernel: a server's answer is not a flow of its own. A UDP server in a
 * network namespace this test creates (198.51.100.0/24 or 203.0.113.0/24, and 2001:db8::/32)
 * answers a client in another: over IPv4 with sendto() back to the datagram's source, over IPv6 the
 * same, on a third port the way some servers do, connect()ing its socket to the client after
 * the first datagram and answering with send(), and on a fourth from a dual-stack socket on [::]
 * (as CoreDNS listens), which hears the IPv4 client as ::ffff:a.b.c.d and answers it over IPv4. The client's send is one flow per destination;
 * the server's replies are none (counted as replies), while a datagram the server sends on its own
 * to a peer it never heard from is still its flow.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpConnectTracer } from '../../src/agent/tracer.js';
import { EventLog, ensureBpfBuilt } from './support/agent-events.js';
import { type Link, Netns, destroyAll, link } from './support/netns.js';

let client: Netns;
let server: Netns;
let wire: Link;
let serverProc: ChildProcess;
const UNSOLICITED_PORT = 9999;
/** A dual-stack server ([::], as CoreDNS listens): it hears an IPv4 client as ::ffff:a.b.c.d. */
const DUAL_STACK_PORT = 5300;

/**
 * Port 53 (IPv4 and IPv6): sendto() back to the source. Port 69: connect() to the first client,
 * then send(). After its first reply on 53 it also sends one datagram, unasked, to the client's
 * address on UNSOLICITED_PORT: a flow the server starts.
 */
function serverScript(b: Link): string {
  return `
    const dgram = require('node:dgram');
    const v4 = dgram.createSocket('udp4');
    let spoke = false;
    v4.on('message', (m, r) => v4.send(m, r.port, r.address, () => {
      if (!spoke) { spoke = true; v4.send(Buffer.from('hello'), ${UNSOLICITED_PORT}, r.address); }
    }));
    v4.bind(53, '${b.ipv4B}');
    const v6 = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    v6.on('message', (m, r) => v6.send(m, r.port, r.address));
    v6.bind(53, '${b.ipv6B}');
    const connecting = dgram.createSocket('udp4');
    connecting.on('message', (m, r) => {
      if (connecting.remoteAddress === undefined) {
        connecting.connect(r.port, r.address, () => { connecting.remoteAddress = r; connecting.send(m); });
      } else connecting.send(m);
    });
    connecting.remoteAddress = undefined;
    connecting.bind(69, '${b.ipv4B}');
    const dual = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    dual.on('message', (m, r) => dual.send(m, r.port, r.address));
    dual.bind(${DUAL_STACK_PORT}, '::');
    Promise.all([v4, v6, connecting, dual].map((s) => new Promise((r) => s.once('listening', r)))).then(() => console.log('ready'));`;
}

/** The client: one socket per destination, each sends twice and waits for both answers. */
function clientScript(b: Link): string {
  return `
    const dgram = require('node:dgram');
    const ask = (type, port, host) => new Promise((resolve, reject) => {
      const s = dgram.createSocket(type);
      let answers = 0;
      const timer = setTimeout(() => reject(new Error('no answer from ' + host + ':' + port)), 3000);
      s.on('message', () => { if (++answers === 2) { clearTimeout(timer); s.close(); resolve(); } });
      s.send(Buffer.from('q1'), port, host, () => s.send(Buffer.from('q2'), port, host));
    });
    (async () => {
      await ask('udp4', 53, '${b.ipv4B}');
      await ask('udp6', 53, '${b.ipv6B}');
      await ask('udp4', 69, '${b.ipv4B}');
      await ask('udp4', ${DUAL_STACK_PORT}, '${b.ipv4B}');
      console.log(JSON.stringify({ pid: process.pid }));
    })().catch((e) => { console.error(e.message); process.exit(1); });`;
}

beforeAll(async () => {
  ensureBpfBuilt();
  client = Netns.create('npuc');
  server = Netns.create('npus');
  wire = link(client, server);
}, 60_000);

afterAll(() => {
  serverProc?.kill('SIGKILL');
  destroyAll();
});

describe('UDP replies', () => {
  it("the client's sends are one flow per destination; the server's replies (sendto, IPv6, connect after receiving) are none", async () => {
    const tracer = new TcpConnectTracer({ netns: [client.inode, server.inode], udp: true, programs: [] });
    const seen = new EventLog(tracer);
    try {
      expect(tracer.udpObserved).toBe(true);
      serverProc = server.spawn([process.execPath, '-e', serverScript(wire)], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((ready, fail) => {
        let out = '';
        serverProc.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) ready();
        });
        serverProc.once('exit', (code) => fail(new Error(`the UDP server exited (${code})`)));
      });
      const out = execFileSync('nsenter', [`--net=/run/netns/${client.name}`, '--', process.execPath, '-e', clientScript(wire)], { encoding: 'utf8' });
      const { pid } = JSON.parse(out) as { pid: number };
      // The unsolicited datagram follows the first reply: wait for it, then for nothing else.
      await seen.waitFor((e) => e.dport === UNSOLICITED_PORT, 3000);
      await new Promise((r) => setTimeout(r, 200));
      tracer.drain();

      const line = (e: (typeof seen.events)[number]) => `${e.netns === client.inode ? 'client' : 'server'} ${e.proto} ${e.daddr}:${e.dport}`;
      const udp = seen.events.filter((e) => e.proto === 'UDP');
      // Exactly the client's three destinations (each sent twice, answered twice) and the server's
      // own datagram: no event from the server to the client's ephemeral ports.
      expect(udp.map(line).sort()).toEqual(
        [
          `client UDP ${wire.ipv4B}:53`,
          `client UDP ${wire.ipv6B}:53`,
          `client UDP ${wire.ipv4B}:69`,
          `client UDP ${wire.ipv4B}:${DUAL_STACK_PORT}`,
          `server UDP ${wire.ipv4A}:${UNSOLICITED_PORT}`,
        ].sort(),
      );
      for (const e of udp.filter((x) => x.netns === client.inode)) expect(e.pid).toBe(pid);
      expect(udp.find((e) => e.netns === server.inode)?.pid).toBe(serverProc.pid);
      // The replies were seen and counted, not reported: each datagram sent with the client's
      // address (two each on 53 over IPv4 and IPv6, and on the dual-stack port) and the connect()
      // on 69 (its send() then goes without an address: no hook runs).
      expect(tracer.udpReplies()).toBe(7);
      expect(tracer.counters()).toMatchObject({ lost: 0 });
    } finally {
      tracer.close();
    }
  }, 30_000);
});
