/**
 * The agent as a process: Ctrl-C (SIGINT) ends `learn --local` with everything it observed in the
 * recording; `trace` detaches its programs on exit; an unprivileged user gets an error that says
 * what to do.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpConnectTracer } from '../../src/agent/tracer.js';
import { parseFlowRecord } from '../../src/flows/record.js';
import { ensureBpfBuilt } from './support/agent-events.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-sig-'));
const MAIN = join(import.meta.dirname, 'support', 'agent-main.ts');
const VITE_NODE = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'vite-node');

beforeAll(() => ensureBpfBuilt());
const started: ChildProcess[] = [];
afterAll(() => {
  // A failed assertion must not leave a tracer running.
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function startAgent(command: 'learn' | 'trace', opts: object, prefix: string[] = []): { child: ChildProcess; ready: Promise<void>; exit: Promise<{ code: number | null; out: string; err: string }> } {
  const argv = [...prefix, VITE_NODE, MAIN, command, JSON.stringify(opts)];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.includes('READY')) onReady();
  });
  const exit = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
  void exit.then(() => onReady());
  return { child, ready, exit };
}

/** Connects to `n` closed loopback ports (refused at once: each one a distinct edge). */
async function refusedConnects(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    ports.push(port);
    await new Promise<void>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => resolve());
      c.on('connect', () => {
        c.destroy();
        resolve();
      });
    });
  }
  return ports;
}

/** Ids of the BPF programs a process holds open. */
function programIdsOf(pid: number): number[] {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m?.[1]) ids.add(Number(m[1]));
    } catch {
      /* fd closed meanwhile */
    }
  }
  return [...ids];
}

/** Loaded BPF programs (bpftool): id → name. */
function loadedPrograms(): Map<number, string> {
  const raw = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
  return new Map(raw.map((p) => [p.id, p.name ?? '']));
}

describe('the agent as a process', () => {
  it('learn --local: Ctrl-C loses nothing it observed', async () => {
    const record = join(dir, 'rec.jsonl');
    const agent = startAgent('learn', { host: true, record, out: join(dir, 'pol'), dns: false });
    await agent.ready;
    const ports = await refusedConnects(40);
    agent.child.kill('SIGINT'); // right after the last connect
    const { code, err } = await agent.exit;
    expect(err).toMatch(/0 events lost/);
    expect(code).toBe(0);
    const recs = readFileSync(record, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l, i) => parseFlowRecord(JSON.parse(l), record, i + 1));
    const seen = new Set(recs.filter((r) => r.dst.ip === '127.0.0.1' && r.outcome === 'refused' && r.src.pid === process.pid).map((r) => r.dst.port));
    expect(ports.filter((p) => !seen.has(p))).toEqual([]);
  }, 60_000);

  it('trace: SIGTERM detaches every program, after printing what it saw and the lost-event summary', async () => {
    const agent = startAgent('trace', { host: true, output: 'json', pid: [process.pid] });
    await agent.ready;
    // The programs this process holds (fdinfo of its BPF fds names them).
    const ids = programIdsOf(agent.child.pid as number);
    const loaded = loadedPrograms();
    const ours = ids.map((id) => [id, loaded.get(id)] as const);
    // JSON without --latency: connects as they are made, so the sockops program is attached too.
    expect(ours.map(([, name]) => name).sort()).toEqual(['handle_enter_connect', 'handle_exit_connect', 'handle_set_state', 'handle_sockops']);
    const ports = await refusedConnects(3);
    await new Promise((r) => setTimeout(r, 100));
    agent.child.kill('SIGTERM');
    const { code, out, err } = await agent.exit;
    expect(code).toBe(0);
    const events = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { dst: { port: number }; pid: number; outcome: string });
    expect(events.map((e) => e.dst.port)).toEqual(ports);
    expect(events.every((e) => e.pid === process.pid && e.outcome === 'connecting')).toBe(true);
    expect(err).toMatch(/3 connects traced, 0 lost/);
    // Detached and unloaded: none of the process's programs is left (after an RCU grace period).
    const deadline = Date.now() + 5000;
    let left = ours;
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      const after = loadedPrograms();
      left = ours.filter(([id]) => after.has(id));
    }
    expect(left).toEqual([]);
  }, 60_000);

  it('an unprivileged user is told to run as root or grant CAP_BPF', async () => {
    // Root with every capability dropped: unprivileged for bpf(), yet able to read a checkout that
    // lives in a directory only root may enter (CI clones into one).
    const agent = startAgent('trace', { host: true }, ['setpriv', '--inh-caps=-all', '--bounding-set=-all']);
    const { code, err } = await agent.exit;
    expect(code).toBe(3);
    expect(err).toMatch(/error: netpol needs privileges to load eBPF programs\n  hint: run as root \(sudo netpol \.\.\.\), or grant CAP_BPF and CAP_PERFMON/);
  }, 60_000);

  it('a missing BPF object says how to build it', () => {
    expect(() => new TcpConnectTracer({ objectPath: join(dir, 'nope.bpf.o') })).toThrow(/has not been built\n  hint: build it: make -C bpf/);
  });
});
