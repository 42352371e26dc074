/**
 * The libbpf binding on its own: open/load with .rodata and map sizes set before load, map
 * update/lookup/delete/iteration, attach, libbpf's ring buffer (new/consume/poll through a
 * registered callback), the mmap'ed ring buffer reader, link destroy and object close.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_SIZE, FILTER_PID, decodeEventAt, encodeConfig, type ConnectEvent } from '../../src/agent/event.js';
import { BpfObject, MappedRingBuffer } from '../../src/agent/libbpf.js';
import { defaultObjectPath } from '../../src/agent/tracer.js';
import { ensureBpfBuilt } from './support/agent-events.js';

let obj: BpfObject;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** A refused loopback connect from this process; resolves once connect() has failed. */
function refusedConnect(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => {
        const c = net.connect(port, '127.0.0.1');
        c.on('error', () => resolve(port));
      });
    });
  });
}

function programIds(): Set<number> {
  return new Set((JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number }>).map((p) => p.id));
}

/** Ids of the BPF programs this process holds open (fdinfo names them). */
function ownProgramIds(): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync('/proc/self/fdinfo')) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
      if (m?.[1]) ids.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  return ids;
}

beforeAll(() => {
  ensureBpfBuilt();
  obj = BpfObject.load(defaultObjectPath(), {
    rodata: encodeConfig({ filters: FILTER_PID, dedupEdges: false }),
    maxEntries: { events: 64 * 1024 },
  });
});

afterAll(() => obj?.close());

describe('libbpf binding', () => {
  it('updates, looks up, iterates and deletes map entries', () => {
    const pids = obj.map('pid_filter');
    pids.update(u32(process.pid), Buffer.from([1]));
    pids.update(u32(1), Buffer.from([1]));
    expect(pids.lookup(u32(process.pid), 1)).toEqual(Buffer.from([1]));
    expect(pids.keys(4).map((k) => k.readUInt32LE(0)).sort((a, b) => a - b)).toEqual([1, process.pid].sort((a, b) => a - b));
    expect(pids.delete(u32(1))).toBe(true);
    expect(pids.delete(u32(1))).toBe(false);
    expect(pids.lookup(u32(1), 1)).toBeUndefined();
  });

  it('delivers events through the mmap reader of the ring buffer', async () => {
    for (const prog of ['handle_set_state', 'handle_exit_connect', 'handle_enter_connect']) obj.attach(prog);
    const mapped = new MappedRingBuffer(obj.map('events').fd, 64 * 1024);
    try {
      const fromMmap: ConnectEvent[] = [];
      const take = () => mapped.consume((v, b, off) => fromMmap.push(decodeEventAt(v, b, off)), 100);
      expect(take()).toEqual({ count: 0, more: false });
      const port = await refusedConnect();
      const port2 = await refusedConnect();
      await new Promise((r) => setTimeout(r, 50));
      // A batch limit of one: the second event waits for the next consume.
      expect(mapped.consume((v, b, off) => fromMmap.push(decodeEventAt(v, b, off)), 1)).toEqual({ count: 1, more: true });
      expect(take()).toEqual({ count: 1, more: false });
      expect(fromMmap.map((e) => [e.pid, e.dport, e.outcome])).toEqual([
        [process.pid, port, 'refused'],
        [process.pid, port2, 'refused'],
      ]);
    } finally {
      mapped.close();
    }
  });

  it('destroys links and unloads programs on close', async () => {
    const before = ownProgramIds();
    const other = BpfObject.load(defaultObjectPath(), { rodata: encodeConfig({ filters: FILTER_PID, dedupEdges: false }) });
    other.attach('handle_set_state');
    const loaded = [...ownProgramIds()].filter((id) => !before.has(id));
    expect(loaded.length).toBeGreaterThanOrEqual(3); // the object's programs (all loaded, one attached)
    other.close();
    other.close(); // idempotent
    // The kernel frees a detached raw-tracepoint program after an RCU grace period.
    const deadline = Date.now() + 5000;
    let left = loaded;
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      const after = programIds();
      left = loaded.filter((id) => after.has(id));
    }
    expect(left).toEqual([]);
  });

  it('names the problem when the configuration does not match the object', () => {
    expect(() => BpfObject.load(defaultObjectPath(), { rodata: Buffer.alloc(3) })).toThrow(new RegExp(`\\.rodata is ${CONFIG_SIZE} bytes, the loader expects 3 \\(rebuild: make -C bpf\\)`));
  });
});
