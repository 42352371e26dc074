/**
 * `trace -o json` through a slow pipe reader on the real kernel: the reader, which starts only after the trace ended, gets every record the
 * summary counts, none torn. Before the CLI waited for stdout to drain, the last 64 KiB in the pipe
 * were lost at exit and the last record was cut mid-line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { CLI, ensureBuilt } from '../support/cli.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { closedPort } from '../support/closed-port.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-trace-pipe-'));
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

beforeAll(() => {
  ensureBuilt();
  ensureBpfBuilt();
}, 300_000);

function refusedConnect(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => resolve());
    s.on('connect', () => {
      s.destroy();
      resolve();
    });
  });
}

const readOr = (path: string, fallback: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback; // the process or descriptor went away meanwhile
  }
};
const listOr = (path: string): string[] => {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
};

/** Waits until the process whose command line holds `argv` has BPF links open, none added for 500 ms. */
async function tracerAttached(argv: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    const pid = listOr('/proc').find((p) => /^\d+$/.test(p) && readOr(`/proc/${p}/cmdline`, '').includes(argv));
    const links = pid ? listOr(`/proc/${pid}/fdinfo`).filter((fd) => readOr(`/proc/${pid}/fdinfo/${fd}`, '').includes('link_type:')).length : 0;
    if (links !== last) {
      last = links;
      stableSince = Date.now();
    } else if (links > 0 && Date.now() - stableSince >= 500) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the tracer did not attach within ${timeoutMs} ms (BPF links seen: ${last})`);
}

it('trace -o json through a slow reader: every record the summary counts arrives whole', async () => {
  const out = join(dir, 'out.jsonl');
  const err = join(dir, 'err');
  // Own mount namespace: tracefs is mounted there when the host has not mounted it, and the host's
  // mounts are left alone.
  const script =
    'mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing; ' +
    `${sq(process.execPath)} ${sq(CLI)} trace tcpconnect --host --latency -o json --timeout 10s 2> ${sq(err)} | (sleep 12; cat > ${sq(out)})`;
  const child = spawn('unshare', ['-m', 'bash', '-c', script], { stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  // Wait until the tracer has attached (its BPF links are open), then make a few thousand refused
  // loopback connects. A fixed wait was not enough on a loaded machine: connects made before the
  // attach, or after --timeout, are rightly not traced.
  await tracerAttached(`${CLI}\0trace\0tcpconnect\0--host\0--latency\0-o\0json\0`, 20_000);
  const port = await closedPort();
  for (let i = 0; i < 3000; i += 50) await Promise.all(Array.from({ length: 50 }, () => refusedConnect(port)));
  expect(await exited).toBe(0);
  const summary = /^(\d+) connects traced/m.exec(readFileSync(err, 'utf8'));
  expect(summary).not.toBeNull();
  const text = readFileSync(out, 'utf8');
  expect(text.length).toBeGreaterThan(256 << 10);
  expect(text.endsWith('\n')).toBe(true);
  const lines = text.slice(0, -1).split('\n');
  expect(lines.length).toBe(Number(summary![1]));
  // (--latency: each record is written when answered, with its outcome.)
  // Each record whole: parses, and the refused connects to our port are all there.
  const records = lines.map((l) => JSON.parse(l) as { dst: { port: number }; outcome: string });
  expect(records.filter((r) => r.dst.port === port && r.outcome === 'refused').length).toBe(3000);
}, 60_000);
