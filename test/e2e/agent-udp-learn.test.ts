/**
 * `netpol learn --local` with UDP, on the real kernel: a container (a network namespace of its own)
 * sends UDP — a DNS query and a TFTP request — and opens a TCP connection to hosts in namespaces
 * this test creates (198.51.100.0/24 or 203.0.113.0/24). By default the UDP sends are recorded as
 * UDP flows, every flow says UDP was observed, and the policy gets UDP rules for exactly what was
 * sent. With `--proto tcp`, or without CAP_NET_ADMIN (the UDP hooks are cgroup programs), TCP is
 * recorded alone, the flows say so, and the DNS rule is assumed as before.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CLI, ensureBuilt } from '../support/cli.js';
import { parseFlowRecord, type FlowRecord } from '../../src/flows/record.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { ensureBusyboxImage, ensureDockerd, removeContainer, runContainer, waitContainer } from './support/docker.js';
import { type Link, Netns, destroyAll, link, waitListening } from './support/netns.js';

const CLIENT = `netpol-udp-${process.pid}`;
let dnsHost: Netns;
let tftpHost: Netns;
let toDns: Link;
let toTftp: Link;
let dir: string;
const children: ChildProcess[] = [];

/** A UDP echo server on `port` inside `ns` (node's dgram, so no tool's UDP support is assumed). */
async function udpEcho(ns: Netns, port: number): Promise<void> {
  const code = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(${port})`;
  children.push(ns.spawn([process.execPath, '-e', code]));
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')} `;
  const deadline = Date.now() + 5000;
  while (!ns.exec(['cat', '/proc/net/udp']).includes(hex)) {
    if (Date.now() > deadline) throw new Error(`no UDP server on ${port} in ${ns.name}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  ensureBpfBuilt();
  await ensureDockerd();
  ensureBusyboxImage();
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'netpol-udp-learn-'));
  dnsHost = Netns.create('npu');
  tftpHost = Netns.create('npu');
  toDns = link(null, dnsHost);
  toTftp = link(null, tftpHost);
  await udpEcho(dnsHost, 53);
  await udpEcho(tftpHost, 5353);
  children.push(dnsHost.spawn(['busybox', 'httpd', '-f', '-p', '80', '-h', '/tmp']));
  await waitListening(dnsHost, 80);
}, 300_000);

afterAll(() => {
  removeContainer(CLIENT);
  for (const c of children) c.kill('SIGKILL');
  destroyAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * One `learn --local -c CLIENT` session of the real CLI (optionally without CAP_NET_ADMIN), while
 * the client container sends; resolves with its stderr once it has learned.
 */
async function session(args: string[], opts: { dropNetAdmin?: boolean } = {}): Promise<{ code: number | null; stderr: string }> {
  const argv = [process.execPath, CLI, 'learn', '--local', '-c', CLIENT, '--duration', '6s', ...args];
  // canLoadNetPrograms accepts CAP_SYS_ADMIN too: both go, CAP_BPF and CAP_PERFMON stay (tracepoints load).
  const child = opts.dropNetAdmin
    ? spawn('capsh', ['--drop=cap_net_admin,cap_sys_admin', '--', '-c', argv.map((a) => `'${a}'`).join(' ')], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const done = new Promise<number | null>((r) => child.on('exit', r));
  await new Promise<void>((ready, fail) => {
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('observing')) ready();
    });
    child.stdout!.resume();
    void done.then(() => fail(new Error(`learn ended before observing: ${stderr}`)));
  });
  removeContainer(CLIENT);
  const d = toDns.ipv4B;
  const t = toTftp.ipv4B;
  // A DNS query to the namespace host (busybox nslookup with an explicit server), a TFTP read
  // request to the other one's port 5353, a TCP connect; each repeated (the kernel keeps one edge).
  runContainer({
    name: CLIENT,
    cmd: ['sh', '-c', `for i in 1 2; do timeout 2 nslookup example.test ${d}; timeout 2 tftp -g -r x -l /tmp/x ${t} 5353; nc ${d} 80 </dev/null; done; true`],
  });
  expect(await waitContainer(CLIENT)).toBe(0);
  return { code: await done, stderr };
}

function recorded(file: string): FlowRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l, i) => parseFlowRecord(JSON.parse(l), file, i + 1))
    .filter((r) => r.src.container === CLIENT);
}

type Rule = { to: Array<Record<string, any>>; ports: Array<{ protocol: string; port: number }> };
const policyOf = (out: string) => parseYaml(readFileSync(join(out, 'local', `${CLIENT}.yaml`), 'utf8')) as Record<string, any>;
const DNS_ASSUMED = {
  to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
  ports: [
    { protocol: 'TCP', port: 53 },
    { protocol: 'UDP', port: 53 },
  ],
};

describe('learn --local and UDP', () => {
  it('records each UDP destination once as a UDP flow, says UDP was observed, and learns UDP rules for exactly what was sent', async () => {
    const record = join(dir, 'udp.jsonl');
    const out = join(dir, 'udp-policies');
    const r = await session(['--record', record, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('UDP is not observed');
    const recs = recorded(record);
    const d = toDns.ipv4B;
    const t = toTftp.ipv4B;
    const key = (x: FlowRecord) => `${x.proto} ${x.dst.ip}:${x.dst.port}`;
    expect(recs.map(key).sort()).toEqual([`TCP ${d}:80`, `UDP ${d}:53`, `UDP ${t}:5353`].sort());
    for (const x of recs) expect(x.observed, key(x)).toEqual(['TCP', 'UDP']);
    const dnsQuery = recs.find((x) => x.proto === 'UDP' && x.dst.port === 53)!;
    expect(dnsQuery).toMatchObject({ src: { namespace: 'local', pod: CLIENT, comm: 'nslookup' } });
    expect(dnsQuery.outcome).toBeUndefined(); // a datagram has no answer the kernel reports
    expect(dnsQuery.latencyNs).toBeUndefined();
    expect(recs.find((x) => x.dst.port === 5353)?.src.comm).toBe('tftp');

    const policy = policyOf(out);
    // Lookups went to the namespace host, not to a cluster DNS: learned as they were, nothing assumed.
    expect(policy.metadata.annotations['netpol.io/dns']).toBe('not-observed');
    expect(policy.spec.egress as Rule[]).toEqual(
      [
        { to: [{ ipBlock: { cidr: `${d}/32` } }], ports: [{ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 53 }] },
        { to: [{ ipBlock: { cidr: `${t}/32` } }], ports: [{ protocol: 'UDP', port: 5353 }] },
      // The synthesizer orders address rules by address, numerically (…10.74 before …10.226).
      ].sort((a, b) => addressOrder(a.to[0]!.ipBlock.cidr) - addressOrder(b.to[0]!.ipBlock.cidr)),
    );
    expect(r.stderr).toContain('warning: dns: no DNS egress for 1 policy');
  }, 60_000);

  it('with --proto tcp records TCP only, says so in every flow, and assumes the DNS rule', async () => {
    const record = join(dir, 'tcp.jsonl');
    const out = join(dir, 'tcp-policies');
    const r = await session(['--proto', 'tcp', '--record', record, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const recs = recorded(record);
    expect(recs.map((x) => `${x.proto} ${x.dst.port}`)).toEqual(['TCP 80']);
    expect(recs[0]!.observed).toEqual(['TCP']);
    const policy = policyOf(out);
    expect(policy.metadata.annotations['netpol.io/dns']).toBeUndefined();
    expect(policy.spec.egress).toContainEqual(DNS_ASSUMED);
    expect(r.stderr).toContain('dns: assumed for 1 policy (their flows were recorded without observing UDP)');
  }, 60_000);

  it('without CAP_NET_ADMIN says once that UDP is not observed, records TCP marked so, and assumes the DNS rule', async () => {
    const record = join(dir, 'nocap.jsonl');
    const out = join(dir, 'nocap-policies');
    const r = await session(['--record', record, '--out', out], { dropNetAdmin: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/UDP is not observed/g)).toHaveLength(1);
    expect(r.stderr).toContain('warning: UDP is not observed (its hooks are cgroup programs, which need CAP_NET_ADMIN)');
    const recs = recorded(record);
    expect(recs.map((x) => `${x.proto} ${x.dst.port}`)).toEqual(['TCP 80']);
    expect(recs[0]!.observed).toEqual(['TCP']);
    expect(policyOf(out).spec.egress).toContainEqual(DNS_ASSUMED);
  }, 60_000);
});

/** An IPv4 CIDR's address as a number, for the order rules are written in. */
function addressOrder(cidr: string): number {
  return cidr.split('/')[0]!.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}
