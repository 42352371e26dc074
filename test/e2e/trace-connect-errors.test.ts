/**
 * `trace tcpconnect --connect-errors` on the real kernel: the syscall tracepoints
 * (syscalls:sys_enter_connect / sys_exit_connect) are attached only with it — attached, they put
 * every syscall of the host on the tracepoint slow path — and a connect() that fails before any
 * SYN (ENETUNREACH in a namespace with no route) is shown only then. Which tracepoints this
 * process has attached is read from the kernel (bpftool perf show), not from the tracer.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runTrace } from '../../src/cli/commands/trace/local.js';
import { busyboxBin, ensureBpfBuilt } from './support/agent-events.js';
import { Netns, destroyAll } from './support/netns.js';

let bin: string;
let isolated: Netns;
/** No route from the isolated namespace (only its loopback is up): connect() fails with ENETUNREACH. */
const TARGET = '203.0.113.77';

beforeAll(() => {
  ensureBpfBuilt();
  bin = busyboxBin();
  isolated = Netns.create('npe');
});

afterAll(() => {
  destroyAll();
  if (bin) rmSync(bin, { recursive: true, force: true });
});

/** The tracepoints BPF programs of this process are attached to (bpftool perf show: pid, fd, tracepoint). */
function attachedTracepoints(): string[] {
  const all = JSON.parse(execFileSync('bpftool', ['-j', 'perf', 'show'], { encoding: 'utf8' }) || '[]') as Array<{ pid: number; fd_type: string; tracepoint?: string }>;
  return all.filter((p) => p.pid === process.pid && p.fd_type === 'tracepoint').map((p) => p.tracepoint ?? '').sort();
}

function exited(c: ChildProcess): Promise<void> {
  return new Promise((r) => c.on('exit', () => r()));
}

/** A loopback connect that is refused: shown by every trace (the control that the trace was running). */
async function refusedConnect(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  await new Promise<void>((resolve) => net.connect(port, '127.0.0.1').on('error', () => resolve()).on('connect', function (this: net.Socket) {
    this.destroy();
    resolve();
  }));
  return port;
}

interface Line { pid: number; dst: { addr: string; port: number }; outcome: string; error: { errno: number; name: string } | null }

/** Runs `trace tcpconnect --host -o json` in this process around `during`; returns its lines and the tracepoints attached meanwhile. */
async function trace(connectErrors: boolean, during: () => Promise<void>): Promise<{ lines: Line[]; tracepoints: string[] }> {
  let text = '';
  const stdout = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString('utf8');
      cb();
    },
  });
  const abort = new AbortController();
  let ready!: () => void;
  const attached = new Promise<void>((r) => (ready = r));
  const done = runTrace({ host: true, output: 'json', ...(connectErrors ? { connectErrors: true } : {}) }, { stdout, stderr: new PassThrough(), signal: abort.signal, onReady: () => ready() });
  done.catch(() => ready());
  await attached;
  const tracepoints = attachedTracepoints();
  await during();
  // The trace drains every 20 ms: give it a few rounds.
  await new Promise((r) => setTimeout(r, 200));
  abort.abort();
  expect(await done).toBe(0);
  const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
  return { lines, tracepoints };
}

it('without --connect-errors: no syscall tracepoint is attached and a connect() failing before any SYN is not shown', async () => {
  let control = 0;
  let pid = 0;
  const { lines, tracepoints } = await trace(false, async () => {
    const nc = isolated.spawn([join(bin, 'nc'), '-w', '1', TARGET, '443']);
    pid = nc.pid!;
    await exited(nc);
    control = await refusedConnect();
  });
  expect(tracepoints.filter((t) => t.startsWith('sys_'))).toEqual([]);
  expect(lines.filter((l) => l.dst.addr === '127.0.0.1' && l.dst.port === control && l.pid === process.pid)).toHaveLength(1);
  expect(lines.filter((l) => l.pid === pid || l.dst.addr === TARGET)).toEqual([]);
}, 30_000);

it('with --connect-errors: the syscall tracepoints are attached and the synchronous ENETUNREACH is shown', async () => {
  let pid = 0;
  const { lines, tracepoints } = await trace(true, async () => {
    const nc = isolated.spawn([join(bin, 'nc'), '-w', '1', TARGET, '443']);
    pid = nc.pid!;
    await exited(nc);
  });
  expect(tracepoints.filter((t) => t.startsWith('sys_'))).toEqual(['sys_enter_connect', 'sys_exit_connect']);
  expect(lines.filter((l) => l.pid === pid)).toMatchObject([{ dst: { addr: TARGET, port: 443 }, outcome: 'error', error: { errno: 101, name: 'ENETUNREACH' } }]);
}, 30_000);
