/**
 * The node agent's kernel de-duplication, its bookkeeping without the kernel: an in-memory table
 * that behaves as bpf/allowed-edges.h does (a hit counts only the current generation, and only
 * while enabled). The sweep hands over deltas (the kernel never resets a count), old generations
 * are read one last time and deleted only RETIRE_MS after their bump, and a predecessor's entries
 * are counted as orphaned. The real map is exercised by test/e2e/k8s-agent-kernel-dedup.test.ts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AllowedEdge, type AllowedEdgeCount, type AllowedEdgeTable, allowedEdgeOf, edgeIdOfKey, encodeAllowedKey } from '../../src/agent/allowed-edges.js';
import type { ConnectEvent } from '../../src/agent/event.js';
import type { PodConnect } from '../../src/cluster/cluster-agent.js';
import { Journal } from '../../src/cluster/profile/journal.js';
import type { EdgeObservation, WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { KernelDedup, nextGeneration, RETIRE_MS } from '../../src/daemon/kernel-dedup.js';

/** The kernel table and program, in memory. */
class FakeTable implements AllowedEdgeTable {
  generation = 0;
  enabled = false;
  readonly rows = new Map<string, { key: Buffer; count: number; last: bigint }>();
  capacity = 100;
  setState(generation: number, enabled: boolean): void {
    this.generation = generation;
    this.enabled = enabled;
  }
  add(edge: AllowedEdge, generation: number): 'added' | 'present' | 'full' {
    const key = encodeAllowedKey(edge, generation);
    const id = key.toString('hex');
    if (this.rows.has(id)) return 'present';
    if (this.rows.size >= this.capacity) return 'full';
    this.rows.set(id, { key, count: 0, last: 0n });
    return 'added';
  }
  counts(): AllowedEdgeCount[] {
    return [...this.rows.values()].map((r) => ({ key: r.key, edgeId: edgeIdOfKey(r.key), generation: r.key.readUInt32LE(32), count: r.count, lastSeenNs: r.last }));
  }
  remove(key: Buffer): void {
    this.rows.delete(key.toString('hex'));
    this.reportedRows.delete(key.toString('hex'));
  }
  /** allowed_reported: what the agent handed over per entry. */
  readonly reportedRows = new Map<string, number>();
  setReported(key: Buffer, count: number): void {
    this.reportedRows.set(key.toString('hex'), count);
  }
  reported(key: Buffer): number | undefined {
    return this.reportedRows.get(key.toString('hex'));
  }
  /** The state program's answer path: true when counted (no event). */
  connect(edge: AllowedEdge, atNs: bigint): boolean {
    if (!this.enabled) return false;
    const r = this.rows.get(encodeAllowedKey(edge, this.generation).toString('hex'));
    if (!r) return false;
    r.count++;
    r.last = atNs;
    return true;
  }
}

function event(dport: number, cgroupId = 7n): ConnectEvent {
  return {
    tsNs: 1n,
    latencyNs: 1n,
    cgroupId,
    pid: 1,
    tid: 1,
    uid: 0,
    gid: 0,
    mntns: 1,
    netns: 4026531840,
    family: 4,
    saddr: '10.0.0.1',
    daddr: '10.0.0.2',
    sport: 40000,
    dport,
    outcome: 'established',
    source: 'state',
    errno: 0,
    comm: 'c',
  } as unknown as ConnectEvent;
}
const connect = (dport: number): PodConnect => ({ event: event(dport), time: new Date(0) }) as unknown as PodConnect;

function setup() {
  const table = new FakeTable();
  let now = 1000;
  const repeats: { port: number; count: number; last: bigint }[] = [];
  const dedup = new KernelDedup({ table, now: () => now, onRepeats: (c, count, last) => repeats.push({ port: c.event.dport, count, last }) });
  return { table, dedup, repeats, tick: (ms: number) => (now += ms) };
}

describe('kernel de-duplication bookkeeping', () => {
  it('counts nothing until enabled; then an offered edge is counted and the sweep hands over exact deltas', () => {
    const { table, dedup, repeats } = setup();
    const c = connect(80);
    const edge = allowedEdgeOf(c.event);
    dedup.offer(c); // off: not written
    expect(table.rows.size).toBe(0);
    dedup.setEnabled(true);
    dedup.offer(c);
    for (let i = 0; i < 5; i++) expect(table.connect(edge, BigInt(10 + i))).toBe(true);
    dedup.sweep();
    expect(repeats).toEqual([{ port: 80, count: 5, last: 14n }]);
    // No new counts: nothing handed over again (the kernel count is not reset, the delta is 0).
    dedup.sweep();
    expect(repeats).toHaveLength(1);
    for (let i = 0; i < 3; i++) table.connect(edge, 20n);
    dedup.sweep();
    expect(repeats.map((r) => r.count)).toEqual([5, 3]);
    expect(dedup.figures.deduped).toBe(8);
  });

  it('a bump stops the old entries matching at once; they are read one last time and deleted only RETIRE_MS later', () => {
    const { table, dedup, repeats, tick } = setup();
    const c = connect(443);
    const edge = allowedEdgeOf(c.event);
    dedup.setEnabled(true);
    dedup.offer(c);
    table.connect(edge, 1n);
    const before = dedup.generation;
    dedup.invalidate();
    expect(dedup.generation).toBe(nextGeneration(before));
    // The very next connect is not counted (it goes through the ring, judged afresh).
    expect(table.connect(edge, 2n)).toBe(false);
    dedup.sweep();
    expect(repeats.map((r) => r.count)).toEqual([1]);
    expect(table.rows.size).toBe(1); // kept: a program may still be incrementing it
    tick(RETIRE_MS);
    dedup.sweep();
    expect(table.rows.size).toBe(0);
    expect(dedup.edges).toBe(0);
    // Offered again in the new generation: counted again.
    dedup.offer(c);
    expect(table.connect(edge, 3n)).toBe(true);
    dedup.sweep();
    expect(repeats.map((r) => r.count)).toEqual([1, 1]);
  });

  it('off bumps the generation (every connect through the ring) and on again counts afresh; stop sweeps everything', async () => {
    const { table, dedup, repeats } = setup();
    const c = connect(8080);
    const edge = allowedEdgeOf(c.event);
    dedup.setEnabled(true);
    dedup.offer(c);
    table.connect(edge, 1n);
    table.connect(edge, 2n);
    dedup.setEnabled(false);
    expect(table.enabled).toBe(false);
    expect(table.connect(edge, 3n)).toBe(false);
    dedup.offer(c); // off: ignored
    dedup.setEnabled(true);
    expect(table.connect(edge, 4n)).toBe(false); // the old generation's entry does not match
    dedup.offer(c);
    table.connect(edge, 5n);
    await dedup.stop();
    expect(repeats.map((r) => r.count).reduce((a, b) => a + b, 0)).toBe(3);
    expect(table.rows.size).toBe(0);
    expect(table.enabled).toBe(false);
  });

  it('entries left by a predecessor are counted as orphaned and deleted; its generation is not reused', () => {
    const table = new FakeTable();
    const old = connect(22);
    table.add(allowedEdgeOf(old.event), 41);
    table.setState(41, true);
    table.connect(allowedEdgeOf(old.event), 1n);
    table.connect(allowedEdgeOf(old.event), 2n);
    const repeats: number[] = [];
    const dedup = new KernelDedup({ table, previousGeneration: 41, onRepeats: (_c, n) => repeats.push(n) });
    expect(dedup.generation).toBe(42);
    expect(table.enabled).toBe(false);
    expect(table.connect(allowedEdgeOf(old.event), 3n)).toBe(false);
    dedup.sweep();
    expect(dedup.figures.orphaned).toBe(2);
    expect(repeats).toEqual([]);
    expect(table.rows.size).toBe(0);
  });

  it('a full table leaves the edge flowing through the ring, counted in `full`', () => {
    const { table, dedup } = setup();
    table.capacity = 1;
    dedup.setEnabled(true);
    dedup.offer(connect(1));
    dedup.offer(connect(2));
    expect(dedup.figures).toMatchObject({ added: 1, full: 1 });
    expect(table.connect(allowedEdgeOf(connect(2).event), 1n)).toBe(false);
  });

  it('a full table is retired once (a bump), so the edges busy now refill it after the sweep', () => {
    const { table, dedup, repeats, tick } = setup();
    table.capacity = 1;
    dedup.setEnabled(true);
    const quiet = connect(1);
    dedup.offer(quiet);
    table.connect(allowedEdgeOf(quiet.event), 5n);
    dedup.offer(connect(2));
    dedup.offer(connect(3));
    // One bump for both refusals (the first is pending its sweep).
    expect(dedup.figures).toMatchObject({ full: 2, invalidations: 1 });
    tick(RETIRE_MS);
    dedup.sweep();
    // The quiet edge's count handed over, its entry deleted: the busy one gets in.
    expect(repeats.map((r) => r.count)).toEqual([1]);
    const busy = connect(2);
    dedup.offer(busy);
    expect(dedup.figures.added).toBe(2);
    expect(table.connect(allowedEdgeOf(busy.event), 6n)).toBe(true);
  });

  it('after a crash, the successor counts as orphaned only what its predecessor had not handed over', () => {
    const table = new FakeTable();
    const first = new KernelDedup({ table, onRepeats: () => {} });
    first.setEnabled(true);
    const c = connect(8080);
    first.offer(c);
    for (let i = 0; i < 10; i++) table.connect(allowedEdgeOf(c.event), BigInt(i + 1));
    first.sweep(); // 10 handed over
    for (let i = 0; i < 3; i++) table.connect(allowedEdgeOf(c.event), BigInt(i + 20));
    // Killed here (no stop): 3 counted, never handed over.
    const second = new KernelDedup({ table, previousGeneration: first.generation, onRepeats: () => {} });
    second.sweep();
    expect(second.figures.orphaned).toBe(3);
    expect(table.rows.size).toBe(0);
    expect(table.reportedRows.size).toBe(0);
  });

  it('generations wrap without 0 (a zeroed state matches nothing written)', () => {
    expect(nextGeneration(0xffffffff)).toBe(1);
    expect(nextGeneration(1)).toBe(2);
  });
});

describe('journal repeats', () => {
  it('recordRepeats() is one aggregate line that replays as `count` connects', () => {
    const owner: WorkloadIdentity = { namespace: 'a', kind: 'Deployment', name: 'x', selector: { matchLabels: { app: 'x' } }, labels: { app: 'x' } };
    const edge: EdgeObservation = { peer: { address: '203.0.113.10' }, port: 80, protocol: 'TCP', outcome: 'established' };
    const dir = mkdtempSync(join(tmpdir(), 'kdedup-journal-'));
    const { journal } = Journal.open(dir);
    journal.record(owner, [edge], '2026-12-07T10:00:00.000Z');
    journal.recordRepeats(owner, [edge], 4999, '2026-12-07T10:00:00.000Z', '2026-12-07T10:00:01.000Z');
    journal.sync();
    const { replay } = Journal.open(dir);
    expect(replay.unreadable).toBe(0);
    expect(replay.entries.reduce((n, e) => n + e.count, 0)).toBe(5000);
    expect(replay.entries.at(-1)).toMatchObject({ count: 4999, last: '2026-12-07T10:00:01.000Z' });
  });
});
