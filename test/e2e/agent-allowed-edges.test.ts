// The kernel's table of allowed edges (bpf/allowed-edges.h, src/agent/allowed-edges.ts) on the real
// kernel, without the agent: an edge written in the current generation has its established
// answers counted (no event), another generation's entry does not match, and once the lease runs
// out (an agent that died stops renewing it) every connect is reported through the ring again.
// Connects from this process only (a pid filter) to loopback.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALLOWED_LEASE_NS, allowedEdgeOf } from '../../src/agent/allowed-edges.js';
import type { ConnectEvent } from '../../src/agent/event.js';
import { TcpConnectTracer } from '../../src/agent/tracer.js';
import { ensureBpfBuilt } from './support/agent-events.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the kernel table of allowed edges', () => {
  let server: net.Server;
  let port = 0;
  let tracer: TcpConnectTracer;
  const got: ConnectEvent[] = [];

  const connect = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve();
      });
      c.on('error', reject);
    });
  /** `n` connects; the established events of them that came through the ring. */
  const established = async (n: number): Promise<number> => {
    const before = got.length;
    for (let i = 0; i < n; i++) await connect();
    await sleep(100);
    tracer.drain();
    return got.slice(before).filter((e) => e.dport === port && e.outcome === 'established').length;
  };
  const counted = (): number => tracer.allowedEdges.counts().reduce((n, r) => n + r.count, 0);

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (eBPF)');
    ensureBpfBuilt();
    server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
    tracer = new TcpConnectTracer({ pids: [process.pid], programs: ['handle_set_state'] });
    tracer.start((e) => got.push(e));
  });

  afterAll(async () => {
    tracer?.close();
    await new Promise((r) => server?.close(r));
  });

  it('counts an edge written in the current generation, not one of another generation, and nothing once the lease ran out', async () => {
    expect(await established(1)).toBe(1);
    const first = got.find((e) => e.dport === port && e.outcome === 'established')!;
    const table = tracer.allowedEdges;
    const edge = allowedEdgeOf(first);
    // Written, but the program looks at generation 7 only: not counted.
    expect(table.add(edge, 6)).toBe('added');
    table.setState(7, true);
    expect(await established(5)).toBe(5);
    expect(counted()).toBe(0);
    // The current generation: counted, no event.
    expect(table.add(edge, 7)).toBe('added');
    expect(table.add(edge, 7)).toBe('present');
    expect(await established(20)).toBe(0);
    const row = table.counts().find((r) => r.generation === 7)!;
    expect(row.count).toBe(20);
    expect(row.lastSeenNs).toBeGreaterThan(0n);
    // Off: through the ring.
    table.setState(7, false);
    expect(await established(3)).toBe(3);
    // On again, then not renewed: once the lease ran out, every connect is reported again.
    table.setState(7, true);
    expect(await established(2)).toBe(0);
    await sleep(Number(ALLOWED_LEASE_NS / 1_000_000n) + 200);
    expect(await established(4)).toBe(4);
    table.renew();
    expect(await established(2)).toBe(0);
    expect(table.counts().find((r) => r.generation === 7)!.count).toBe(24);
    for (const r of table.counts()) table.remove(r.key);
    expect(table.counts()).toEqual([]);
  }, 20_000);
});
