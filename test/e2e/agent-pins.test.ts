// The tracer's kernel side pinned across restarts (src/agent/pins.ts), on the real kernel: a reader
// SIGKILLed mid-stream, connects made while no reader runs, records read but not settled (journaled)
// read again, records journaled skipped, and the pins removed for good with their programs gone.
// A BPF filesystem of the test's own (a separate instance), never the host's /sys/fs/bpf. The
// connects go to loopback listeners on ports of the test's own, from this process only (a pid
// filter in the kernel: other processes' connects never reach these rings).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeLock } from '../../src/agent/node-lock.js';
import { allowedEdgeOf, encodeAllowedKey } from '../../src/agent/allowed-edges.js';
import type { ConnectEvent } from '../../src/agent/event.js';
import { TcpConnectTracer } from '../../src/agent/tracer.js';
import { ensureBuilt } from '../support/cli.js';
import { ensureBpfBuilt } from './support/agent-events.js';

const repo = resolve(import.meta.dirname, '..', '..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pinned kernel state across agent restarts', () => {
  let fs = '';
  let root = '';
  const servers: net.Server[] = [];
  const ports: number[] = [];

  async function listener(): Promise<number> {
    const s = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    return (s.address() as net.AddressInfo).port;
  }

  async function connects(port: number, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await new Promise<void>((r, j) => {
        const c = net.connect(port, '127.0.0.1', () => {
          c.destroy();
          r();
        });
        c.on('error', j);
      });
    }
  }

  /** Events per destination port of ours, as established connects (one per connect on loopback). */
  function tally(events: { dport: number; outcome: string }[]): Record<number, number> {
    const out: Record<number, number> = {};
    for (const e of events) if (ports.includes(e.dport) && e.outcome === 'established') out[e.dport] = (out[e.dport] ?? 0) + 1;
    return out;
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (eBPF)');
    ensureBpfBuilt();
    ensureBuilt();
    fs = mkdtempSync(join(tmpdir(), 'netpol-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
    root = join(fs, 'netpol');
    for (let i = 0; i < 4; i++) ports.push(await listener());
  });

  afterAll(() => {
    for (const s of servers) s.close();
    if (fs) {
      execFileSync('umount', [fs]); // our own instance: its pins (if any were left) go with it
      rmSync(fs, { recursive: true, force: true });
    }
  });

  it('keeps recording after a SIGKILL; the next reader gets what came meanwhile and what was read but not settled, once', async () => {
    const [settled, unsettled, whileDead] = ports as [number, number, number];
    // The first reader, in a process of its own: settles only the records of port `settled`.
    const script = join(fs, '..', `reader-${process.pid}.mjs`);
    writeFileSync(
      script,
      `import { TcpConnectTracer } from ${JSON.stringify(join(repo, 'dist/agent/tracer.js'))};\n` +
        `const t = new TcpConnectTracer({ pin: { root: ${JSON.stringify(root)} }, pids: [${process.pid}] });\n` +
        `const seen = {};\n` +
        `t.start((e, cursor) => { if (e.outcome !== 'established') return;\n` +
        `  seen[e.dport] = (seen[e.dport] ?? 0) + 1; if (e.dport === ${settled}) t.settle(cursor);\n` +
        `  process.stdout.write(JSON.stringify(seen) + '\\n'); });\n` +
        `process.stdout.write('ready ' + t.reopened + '\\n');\n` +
        `setInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const waitOut = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(out); i++) await sleep(50);
      expect(out).toMatch(re);
    };
    try {
      await waitOut(/^ready false$/m);
      await connects(settled, 3);
      await connects(unsettled, 4);
      await waitOut(new RegExp(`"${settled}":3,"${unsettled}":4|"${unsettled}":4,"${settled}":3`));
    } finally {
      child.kill('SIGKILL');
    }
    await new Promise((r) => child.on('exit', r));
    rmSync(script, { force: true });
    // No reader now: the pinned programs go on recording into the pinned ring.
    await connects(whileDead, 5);
    const next = new TcpConnectTracer({ pin: { root }, pids: [process.pid] });
    const got: { dport: number; outcome: string }[] = [];
    let lastUnsettled = -1;
    next.start((e, cursor) => {
      got.push(e);
      if (e.dport === unsettled && e.outcome === 'established') lastUnsettled = cursor;
    });
    try {
      expect(next.reopened).toBe(true);
      for (let i = 0; i < 100 && (tally(got)[whileDead] ?? 0) < 5; i++) await sleep(50);
      await sleep(200);
      // Settled before the kill: not again. Read but not settled: again, each once. Made while no reader ran: all.
      expect(tally(got)).toEqual({ [unsettled]: 4, [whileDead]: 5 });
      expect(next.counters().lost).toBe(0);
      expect(lastUnsettled).toBeGreaterThan(0);
    } finally {
      next.close(); // nothing settled: all of it stays for the next reader
    }
    // A reader told where the journal got to (RingMark) skips what was journaled: the 4 records of
    // `unsettled` were journaled (say), the 5 made while none ran were not.
    const third = new TcpConnectTracer({ pin: { root, resumeAfter: { ring: next.ringId!, pos: lastUnsettled } }, pids: [process.pid] });
    const again: { dport: number; outcome: string }[] = [];
    third.start((e, cursor) => {
      again.push(e);
      third.settle(cursor);
    });
    try {
      expect(third.resumeSkipped).toBeGreaterThanOrEqual(4);
      for (let i = 0; i < 100 && (tally(again)[whileDead] ?? 0) < 5; i++) await sleep(50);
      await sleep(200);
      expect(tally(again)).toEqual({ [whileDead]: 5 });
    } finally {
      third.close();
    }
  }, 60_000);

  it('frees settled records only after beforeFree returned: a reader killed while writing its journal batch loses none', async () => {
    const port = await listener();
    ports.push(port);
    // Settles every record at once; its beforeFree (where the agent writes its journal batch) is
    // SIGKILLed the first time it runs: the batch's records were settled but never journaled.
    const script = join(fs, '..', `reader-batch-${process.pid}.mjs`);
    writeFileSync(
      script,
      `import { TcpConnectTracer } from ${JSON.stringify(join(repo, 'dist/agent/tracer.js'))};\n` +
        `let seen = 0;\n` +
        `const t = new TcpConnectTracer({ pin: { root: ${JSON.stringify(root)}, beforeFree: () => { if (seen > 0) process.kill(process.pid, 'SIGKILL'); } }, pids: [${process.pid}] });\n` +
        `t.start((e, cursor) => { if (e.dport === ${port} && e.outcome === 'established') { seen++; process.stdout.write('seen ' + seen + '\\n'); } t.settle(cursor); });\n` +
        `process.stdout.write('ready\\n');\n` +
        `setInterval(() => {}, 1000);\n`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let exited = false;
    const exit = new Promise((r) => child.on('exit', () => r((exited = true))));
    try {
      for (let i = 0; i < 200 && !/^ready$/m.test(out); i++) await sleep(50);
      expect(out).toMatch(/^ready$/m);
      await connects(port, 6);
      for (let i = 0; i < 100 && !exited && !/^seen 6$/m.test(out); i++) await sleep(50);
      await sleep(200);
    } finally {
      child.kill('SIGKILL');
    }
    await exit;
    rmSync(script, { force: true });
    expect(out).toMatch(/^seen 1$/m);
    const next = new TcpConnectTracer({ pin: { root }, pids: [process.pid] });
    const got: { dport: number; outcome: string }[] = [];
    next.start((e, cursor) => {
      got.push(e);
      next.settle(cursor);
    });
    try {
      for (let i = 0; i < 100 && (tally(got)[port] ?? 0) < 6; i++) await sleep(50);
      await sleep(200);
      // Settled but not journaled (killed in beforeFree): read again, every one, once.
      expect(tally(got)[port]).toBe(6);
    } finally {
      next.close();
    }
  }, 60_000);

  it('removes everything when unpinned: no pins, and the programs are gone from the kernel', async () => {
    // connectErrors: the syscall hooks too, so that every tracepoint program's link is pinned and must go.
    const t = new TcpConnectTracer({ pin: { root }, pids: [process.pid], connectErrors: true });
    const dir = t.pinDir!.path;
    const progIds = readdirSync(dir)
      .filter((f) => f.startsWith('link_'))
      .map((f) => (JSON.parse(execFileSync('bpftool', ['link', 'show', 'pinned', join(dir, f), '-j'], { encoding: 'utf8' })) as { prog_id: number }).prog_id);
    expect(progIds.length).toBe(3);
    t.start(() => {});
    t.close();
    // Closed but pinned: the programs stay.
    for (const id of progIds) execFileSync('bpftool', ['prog', 'show', 'id', String(id)], { stdio: 'ignore' });
    t.unpin();
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(root)).toBe(false);
    let gone = 0;
    for (let i = 0; i < 50 && gone < progIds.length; i++) {
      gone = progIds.filter((id) => {
        try {
          execFileSync('bpftool', ['prog', 'show', 'id', String(id)], { stdio: 'ignore' });
          return false;
        } catch {
          return true;
        }
      }).length;
      if (gone < progIds.length) await sleep(100);
    }
    expect(gone).toBe(progIds.length);
  }, 30_000);

  it('replaces a pinned object of another version: its records are delivered, its programs detached, its pins removed', async () => {
    const [, , , port] = ports as [number, number, number, number];
    const old = new TcpConnectTracer({ pin: { root }, ringBytes: 1 << 16, pids: [process.pid] }); // other settings: another hash
    const oldDir = old.pinDir!.path;
    old.start(() => {});
    old.close();
    await connects(port, 2);
    const t = new TcpConnectTracer({ pin: { root }, pids: [process.pid] });
    const got: { dport: number; outcome: string }[] = [];
    t.start((e, cursor) => {
      got.push(e);
      t.settle(cursor);
    });
    try {
      expect(t.pinDir!.path).not.toBe(oldDir);
      for (let i = 0; i < 100 && (tally(got)[port] ?? 0) < 2; i++) await sleep(50);
      await sleep(200);
      expect(tally(got)[port]).toBe(2);
      expect(existsSync(oldDir)).toBe(false);
    } finally {
      t.close();
      t.unpin();
    }
  }, 30_000);

  it('replacing a pinned object of another version whose agent crashed: its kernel-counted allowed connects not handed over are counted as orphaned', async () => {
    const port = await listener();
    const old = new TcpConnectTracer({ pin: { root }, ringBytes: 1 << 16, pids: [process.pid] }); // other settings: another hash
    const seen: ConnectEvent[] = [];
    old.start((e, cursor) => {
      if (e.dport === port && e.outcome === 'established') seen.push(e);
      old.settle(cursor);
    });
    let t: TcpConnectTracer | undefined;
    try {
      await connects(port, 1);
      for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(50);
      expect(seen).toHaveLength(1);
      // What its agent's de-duplication does: the edge written, counting on, then 5 counted in the
      // kernel of which it handed over 2 before it died.
      const table = old.allowedEdges;
      const edge = allowedEdgeOf(seen[0]!);
      expect(table.add(edge, 7)).toBe('added');
      table.setState(7, true);
      await connects(port, 5);
      const rows = table.counts();
      expect(rows.map((r) => r.count)).toEqual([5]);
      table.setReported(encodeAllowedKey(edge, 7), 2);
      old.close(); // a crash: nothing swept, the pins stay
      t = new TcpConnectTracer({ pin: { root }, pids: [process.pid] });
      t.start((_e, cursor) => t!.settle(cursor));
      expect(t.orphanedAllowed).toBe(3);
    } finally {
      old.close();
      t?.close();
      t?.unpin();
    }
  }, 30_000);

  it('frees the ring past a record held unsettled once unsettled records fill half of it: nothing lost in the kernel, the freed ones counted', async () => {
    const [port] = ports as [number];
    const t = new TcpConnectTracer({ pin: { root }, ringBytes: 1 << 16, pids: [process.pid] }); // 64 KiB: ≈ 500 records
    let held = false;
    let seen = 0;
    t.start((e, cursor) => {
      if (e.dport !== port || e.outcome !== 'established') return t.settle(cursor);
      seen++;
      // The first one is held (as a connect waits for its pod), the rest are settled at once.
      if (!held) held = true;
      else t.settle(cursor);
    });
    try {
      await connects(port, 1500);
      for (let i = 0; i < 100 && seen < 1500; i++) await sleep(50);
      expect(seen).toBe(1500);
      expect(t.counters().lost).toBe(0);
      expect(t.unprotected).toBeGreaterThanOrEqual(1);
    } finally {
      t.close();
      t.unpin();
    }
  }, 60_000);

  it('lets one agent hold the node lock; the next gets it when the holder is SIGKILLed', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'netpol-lock-')), 'agent.lock');
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', `import { NodeLock } from ${JSON.stringify(join(repo, 'dist/agent/node-lock.js'))}; NodeLock.tryAcquire(${JSON.stringify(path)}); console.log('held'); setInterval(() => {}, 1000);`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 100 && !out.includes('held'); i++) await sleep(50);
    expect(out).toContain('held');
    expect(NodeLock.tryAcquire(path)).toBeUndefined();
    expect(NodeLock.holder(path)).toMatch(new RegExp(`pid ${child.pid}$`));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    const mine = NodeLock.tryAcquire(path);
    expect(mine).toBeDefined();
    mine!.release();
  }, 30_000);
});
