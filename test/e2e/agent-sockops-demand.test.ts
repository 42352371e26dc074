// The tracer's sockops hook attached and detached at run time (reportConnectsOnDemand, the node
// agent's way: src/daemon/as-made.ts), on the real kernel, unpinned and pinned: the link really
// comes and goes (bpftool), connects are reported as made only while it is there, answers always,
// and a reopened pinned tracer finds the hook as the last one left it and can switch it both ways.
// A BPF filesystem of the test's own; connects from this process only (a pid filter) to loopback.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectEvent } from '../../src/agent/event.js';
import { TcpConnectTracer } from '../../src/agent/tracer.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { sockopsLinksOf } from './support/sockops-links.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LinkInfo {
  id: number;
  prog_id: number;
  attach_type?: string;
}

/** sock_ops links of program `progId` (pinned ones included), from the kernel's list. */
function sockopsLinks(progId: number): LinkInfo[] {
  const all = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' })) as LinkInfo[];
  return all.filter((l) => l.attach_type === 'cgroup_sock_ops' && l.prog_id === progId);
}

function progIdPinned(path: string): number {
  return (JSON.parse(execFileSync('bpftool', ['prog', 'show', 'pinned', path, '-j'], { encoding: 'utf8' })) as { id: number }).id;
}

describe('the sockops hook on demand', () => {
  let fs = '';
  let root = '';
  let server: net.Server;
  let port = 0;

  async function connect(): Promise<number> {
    return new Promise<number>((r, j) => {
      const c = net.connect(port, '127.0.0.1', () => {
        const sport = c.localPort!;
        c.destroy();
        r(sport);
      });
      c.on('error', j);
    });
  }

  /** Makes a connect and returns the events of its socket once its answer came. */
  async function traced(t: TcpConnectTracer, got: ConnectEvent[]): Promise<string[]> {
    const sport = await connect();
    for (let i = 0; i < 100 && !got.some((e) => e.sport === sport && e.outcome === 'established'); i++) {
      await sleep(20);
      t.drain();
    }
    return got.filter((e) => e.sport === sport && e.dport === port).map((e) => e.outcome);
  }

  const opts = () => ({ reportConnects: true, alsoAnswers: true, reportConnectsOnDemand: true, pids: [process.pid] });

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (eBPF)');
    ensureBpfBuilt();
    fs = mkdtempSync(join(tmpdir(), 'netpol-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
    root = join(fs, 'netpol');
    server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });

  afterAll(() => {
    server?.close();
    if (fs) {
      execFileSync('umount', [fs]);
      rmSync(fs, { recursive: true, force: true });
    }
  });

  it('unpinned: not attached until asked, then connects come as made too; detached again, answers only', async () => {
    const t = new TcpConnectTracer(opts());
    const got: ConnectEvent[] = [];
    t.start((e) => got.push(e));
    try {
      expect(t.connectsReported).toBe(false);
      expect(t.connectsProblem).toBeUndefined();
      expect(sockopsLinksOf(process.pid)).toEqual([]);
      expect(await traced(t, got)).toEqual(['established']);

      expect(t.setReportConnects(true)).toEqual({ reported: true });
      expect(t.reportingSinceNs).toBeGreaterThan(0n);
      expect(sockopsLinksOf(process.pid)).toHaveLength(1);
      expect(await traced(t, got)).toEqual(['connecting', 'established']);

      expect(t.setReportConnects(false)).toEqual({ reported: false });
      expect(sockopsLinksOf(process.pid)).toEqual([]);
      expect(await traced(t, got)).toEqual(['established']);

      t.setReportConnects(true);
      expect(sockopsLinksOf(process.pid)).toHaveLength(1);
    } finally {
      t.close();
    }
    // Closing an unpinned tracer detaches it.
    expect(sockopsLinksOf(process.pid)).toEqual([]);
  });

  it('pinned: the link\'s pin follows the switch, and a reopened tracer finds it as it was left and switches it both ways', async () => {
    const first = new TcpConnectTracer({ ...opts(), pin: { root } });
    const dir = first.pinDir!.path;
    const progPin = join(dir, 'prog_handle_sockops');
    const linkPin = join(dir, 'link_handle_sockops');
    first.start(() => {});
    expect(existsSync(progPin)).toBe(true);
    expect(existsSync(linkPin)).toBe(false);
    const progId = progIdPinned(progPin);
    expect(sockopsLinks(progId)).toEqual([]);
    first.setReportConnects(true);
    expect(existsSync(linkPin)).toBe(true);
    expect(sockopsLinks(progId)).toHaveLength(1);
    first.close();
    // Pinned: still attached with no reader.
    expect(sockopsLinks(progId)).toHaveLength(1);

    const second = new TcpConnectTracer({ ...opts(), pin: { root } });
    const got: ConnectEvent[] = [];
    try {
      expect(second.reopened).toBe(true);
      expect(second.connectsReported).toBe(true);
      expect(second.reportingSinceNs).toBe(0n);
      second.start((e) => got.push(e));
      expect(await traced(second, got)).toEqual(['connecting', 'established']);
      expect(second.setReportConnects(false)).toEqual({ reported: false });
      expect(existsSync(linkPin)).toBe(false);
      expect(sockopsLinks(progId)).toEqual([]);
      expect(await traced(second, got)).toEqual(['established']);
    } finally {
      second.close();
    }

    const third = new TcpConnectTracer({ ...opts(), pin: { root } });
    const got3: ConnectEvent[] = [];
    try {
      expect(third.reopened).toBe(true);
      expect(third.connectsReported).toBe(false);
      third.start((e) => got3.push(e));
      // Attached from the pinned program: this tracer never loaded it.
      expect(third.setReportConnects(true)).toEqual({ reported: true });
      expect(existsSync(linkPin)).toBe(true);
      expect(sockopsLinks(progId)).toHaveLength(1);
      expect(await traced(third, got3)).toEqual(['connecting', 'established']);
    } finally {
      third.close();
      third.unpin();
    }
    expect(existsSync(dir)).toBe(false);
    let left = sockopsLinks(progId).length;
    for (let i = 0; i < 50 && left > 0; i++) {
      await sleep(100);
      left = sockopsLinks(progId).length;
    }
    expect(left).toBe(0);
  }, 30_000);
});
