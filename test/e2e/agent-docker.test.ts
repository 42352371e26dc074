/**
 * Containers: the seed's `ig trace tcpconnect -c test-tcp-connect` walkthrough reproduced with
 * `netpol trace tcpconnect` — a busybox container connects to a server in this test's own network
 * namespace on ports 80 and 443 and the trace shows exactly those two lines — plus the container
 * enrichment (cgroup → docker name/image) asserted against the live processes.
 */
import { type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runTrace } from '../../src/cli/commands/trace/local.js';
import { busyboxBin, ensureBpfBuilt } from './support/agent-events.js';
import { BUSYBOX_IMAGE, ensureBusyboxImage, ensureDockerd, inspect, removeContainer, runContainer, waitContainer } from './support/docker.js';
import { type Link, Netns, destroyAll, link, waitListening } from './support/netns.js';

const SEED_HEADER = 'RUNTIME.CONTAINERNAME                      PID        COMM             IP SRC                                        DST';
const NAME = 'test-tcp-connect';
const OTHER = `netpol-other-${process.pid}`;

let server: Netns;
let wire: Link;
let bin: string;
const children: ChildProcess[] = [];

/** Runs a trace in-process; resolves with its stdout/stderr once stopped. */
function startTrace(opts: Parameters<typeof runTrace>[0]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const abort = new AbortController();
  let ready!: () => void;
  const readyP = new Promise<void>((r) => (ready = r));
  const result = runTrace(opts, { stdout, stderr, signal: abort.signal, onReady: () => ready() });
  result.catch(() => ready());
  return {
    ready: readyP,
    lines: () => out.split('\n').filter(Boolean),
    async stop() {
      abort.abort();
      const code = await result;
      return { code, out, err };
    },
    async waitLines(n: number, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (out.split('\n').filter(Boolean).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
  };
}

beforeAll(async () => {
  ensureBpfBuilt();
  await ensureDockerd();
  ensureBusyboxImage();
  removeContainer(NAME);
  bin = busyboxBin();
  server = Netns.create('npd');
  wire = link(null, server); // the root namespace routes docker0 traffic to it (on-link /29)
  for (const port of [80, 443]) {
    children.push(server.spawn([join(bin, 'httpd'), '-f', '-p', String(port), '-h', '/tmp']));
    await waitListening(server, port);
  }
}, 120_000);

afterAll(() => {
  removeContainer(NAME);
  removeContainer(OTHER);
  for (const c of children) c.kill('SIGKILL');
  destroyAll();
  if (bin) rmSync(bin, { recursive: true, force: true });
});

describe('trace tcpconnect with containers', () => {
  afterEach(() => {
    removeContainer(NAME);
    removeContainer(OTHER);
  });

  it('reproduces the seed walkthrough: two lines for test-tcp-connect, ports 80 and 443', async () => {
    const trace = startTrace({ containername: NAME });
    await trace.ready;
    // Another container connecting at the same time must not show up (kernel cgroup filter).
    runContainer({ name: OTHER, cmd: ['sh', '-c', `sleep 1 | nc ${wire.ipv4B} 80`] });
    // Each nc keeps its connection (stdin open) for a moment, so the test can look at it live.
    runContainer({ name: NAME, cmd: ['sh', '-c', `sleep 2 | nc ${wire.ipv4B} 80; sleep 2 | nc ${wire.ipv4B} 443`] });
    const id = inspect(NAME, '{{.Id}}');
    const containerIp = inspect(NAME, '{{.NetworkSettings.IPAddress}}');
    await trace.waitLines(2);
    // The first connect's process is alive: its pid, comm and cgroup match the line.
    const first = trace.lines()[1] ?? '';
    const pid = Number(first.slice(43, 53).trim());
    expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe('nc');
    expect(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(id);
    await trace.waitLines(3);
    const pid2 = Number((trace.lines()[2] ?? '').slice(43, 53).trim());
    expect(readFileSync(`/proc/${pid2}/cgroup`, 'utf8')).toContain(id);
    expect(await waitContainer(NAME)).toBe(0);
    await waitContainer(OTHER);
    const { code, out, err } = await trace.stop();
    expect(code).toBe(0);
    const lines = out.split('\n').filter(Boolean);
    // Without --latency: exactly the seed's columns, each connect shown as it is made.
    expect(lines[0]).toBe(SEED_HEADER);
    expect(lines).toHaveLength(3);
    const ip = containerIp.replaceAll('.', '\\.');
    const dst = wire.ipv4B.replaceAll('.', '\\.');
    for (const [i, port] of [
      [1, 80],
      [2, 443],
    ] as const) {
      const row = new RegExp(`^${NAME} {27}(\\d+) +nc {15}4  ${ip}:(\\d+) +${dst}:${port}$`);
      expect(lines[i]).toMatch(row);
      // Columns sit where the seed has them.
      expect(lines[i]?.indexOf('nc')).toBe(SEED_HEADER.indexOf('COMM'));
      expect(lines[i]?.indexOf(`${wire.ipv4B}:${port}`)).toBe(SEED_HEADER.indexOf('DST'));
      const sport = Number(row.exec(lines[i] ?? '')?.[2]);
      expect(sport).toBeGreaterThan(0);
    }
    expect(Number(lines[1]?.slice(43, 53).trim())).toBe(pid);
    expect(Number(lines[2]?.slice(43, 53).trim())).toBe(pid2);
    expect(err).toMatch(/^2 connects traced, 0 lost\n$/);
  }, 90_000);

  it('shows the seed columns byte for byte with -o columns=, and JSON with the container and outcome', async () => {
    const custom = startTrace({ containername: NAME, output: 'columns=runtime.containername,pid,comm,ip,src,dst' });
    const json = startTrace({ host: true, output: 'json', latency: true });
    await custom.ready;
    await json.ready;
    runContainer({ name: NAME, image: BUSYBOX_IMAGE, cmd: ['sh', '-c', `sleep 2 | nc ${wire.ipv4B} 80; nc -w 1 ${wire.ipv4B} 8080`] });
    const id = inspect(NAME, '{{.Id}}');
    expect(await waitContainer(NAME)).toBe(1); // the second connect is refused
    await custom.waitLines(3);
    const c = await custom.stop();
    const j = await json.stop();
    const lines = c.out.split('\n').filter(Boolean);
    expect(lines[0]).toBe(SEED_HEADER);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^${NAME} {27}\\d+ +nc {15}4  [0-9.]+:\\d+ +${wire.ipv4B.replaceAll('.', '\\.')}:80$`));
    const events = j.out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>)
      .filter((e) => e.runtime.containerName === NAME);
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({
      runtime: { containerName: NAME, containerId: id, containerImageName: BUSYBOX_IMAGE, runtimeName: 'docker' },
      comm: 'nc',
      ipversion: 4,
      dst: { addr: wire.ipv4B, port: 80 },
      outcome: 'established',
      error: null,
    });
    expect(events[1]).toMatchObject({ dst: { addr: wire.ipv4B, port: 8080 }, outcome: 'refused', error: { errno: 111, name: 'ECONNREFUSED' } });
    for (const e of events) {
      expect(e.latency).toBeGreaterThan(0);
      expect(e.src.port).toBeGreaterThan(0);
      expect(Date.parse(e.timestamp)).toBeGreaterThan(Date.now() - 60_000);
    }
  }, 90_000);
});
