/**
 * The real CLI as a fresh machine runs it: tracefs and the BPF filesystem not mounted (each test
 * runs netpol in a mount namespace of its own with them unmounted, so the host is untouched), and
 * the seed's point of `trace tcpconnect` without --latency: a connect to a host that drops SYNs is
 * shown as it is made, not when the kernel gives up minutes later.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt } from '../support/cli.js';
import { busyboxBin, ensureBpfBuilt } from './support/agent-events.js';
import { type Link, Netns, destroyAll, link, nft } from './support/netns.js';

let client: Netns;
let server: Netns;
let wire: Link;
let bin: string;
const children: ChildProcess[] = [];

/** Unmounts what a fresh machine does not have mounted, then runs `after` (a shell command). */
const FRESH = 'umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug/tracing 2>/dev/null; umount -l /sys/fs/bpf 2>/dev/null;';

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}

function inFreshMountNamespace(script: string): Run {
  const child = spawn('unshare', ['-m', 'sh', '-c', `${FRESH} ${script}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

async function until(what: string, cond: () => boolean, timeoutMs: number, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms; ${detail()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(() => {
  ensureBuilt();
  ensureBpfBuilt();
  bin = busyboxBin();
  client = Netns.create('npfc');
  server = Netns.create('npfs');
  wire = link(client, server);
  // Port 81 of the server: SYNs vanish, as they do at the seed's 1.0.0.1 once a policy denies it.
  nft(server, 'table inet netpol {\n chain input {\n  type filter hook input priority 0;\n  tcp dport 81 drop\n }\n}\n');
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  destroyAll();
  if (bin) rmSync(bin, { recursive: true, force: true });
});

describe('netpol on a fresh machine', () => {
  it('trace mounts tracefs itself (and says so), and shows a connect whose SYNs are dropped as it is made', async () => {
    const trace = inFreshMountNamespace(`exec ${process.execPath} ${CLI} trace tcpconnect --host --timeout 20`);
    await until('the trace header', () => trace.out().startsWith('RUNTIME.CONTAINERNAME'), 20_000, () => trace.err());
    expect(trace.err()).toContain('netpol: mounted tracefs at /sys/kernel/tracing (it was not mounted');
    const started = Date.now();
    // nc waits up to 10 s for an answer that never comes; the kernel would retry the SYN for longer.
    const nc = client.spawn([join(bin, 'nc'), '-w', '10', wire.ipv4B, '81']);
    children.push(nc);
    const wanted = (): string | undefined => trace.out().split('\n').find((l) => l.includes(` ${wire.ipv4B}:81`));
    await until('the line of the unanswered connect', () => wanted() !== undefined, 3000, () => trace.out());
    const shownAfter = Date.now() - started;
    expect(nc.exitCode).toBe(null); // still waiting for its answer
    expect(shownAfter).toBeLessThan(3000);
    // The seed's columns: container (none: a host process), PID, COMM, IP, SRC with its port, DST.
    expect(wanted()).toMatch(new RegExp(`^ {43}${nc.pid} +nc {14} 4  ${wire.ipv4A.replaceAll('.', '\\.')}:\\d+ +${wire.ipv4B.replaceAll('.', '\\.')}:81$`));
    nc.kill('SIGKILL');
    trace.child.kill('SIGINT');
    expect(await trace.exit).toBe(0);
    expect(trace.err()).toMatch(/\d+ connects traced, 0 lost/);
  }, 60_000);

  it('without CAP_SYS_ADMIN, a root-only tracefs is reported as the missing permission, not as a missing tracefs', async () => {
    // What a user with only CAP_BPF and CAP_PERFMON (the hint of the unprivileged error) meets:
    // tracefs is mounted but mode 700 for another owner, and nothing overrides file permissions.
    const run = inFreshMountNamespace(
      'mount -t tracefs -o uid=1,gid=1,mode=700 tracefs /sys/kernel/tracing && ' +
        `exec setpriv --inh-caps=-all --bounding-set=-all,+bpf,+perfmon ${process.execPath} ${CLI} trace tcpconnect --host --timeout 1`,
    );
    expect(await run.exit).toBe(3);
    expect(run.err()).toMatch(/^error: permission denied reading \/sys\/kernel\/tracing\/events: tracefs is root-only, and CAP_BPF with CAP_PERFMON does not open it/m);
    expect(run.err()).toMatch(/hint: .*CAP_DAC_READ_SEARCH/);
    expect(run.err()).not.toMatch(/tracefs is not (available|mounted)/);
  }, 60_000);

  it('without CAP_SYS_ADMIN, an unmounted tracefs is not mounted, and the error says how to mount it', async () => {
    const run = inFreshMountNamespace(`exec setpriv --inh-caps=-all --bounding-set=-all,+bpf,+perfmon ${process.execPath} ${CLI} trace tcpconnect --host --timeout 1`);
    expect(await run.exit).toBe(3);
    expect(run.err()).toMatch(/^error: tracefs is not mounted at \/sys\/kernel\/tracing, and this process lacks CAP_SYS_ADMIN to mount it\n  hint: mount it once as root: mount -t tracefs tracefs \/sys\/kernel\/tracing/m);
  }, 60_000);
});
