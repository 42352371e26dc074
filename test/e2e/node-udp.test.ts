// UDP seen, not assumed, on the real node (CoreDNS really answers, kube-proxy really DNATs,
// kube-network-policies really enforces): a pod looks up a Service name through CoreDNS and sends
// UDP to a host of the node's "internet" namespace; netpol learn on the node records both as UDP
// flows and learns them — the DNS rule from the lookups it saw (UDP 53 to the CoreDNS pods, no TCP
// 53 since none was made), the UDP server as its /32 on UDP 5353. Applied with kubectl, both keep
// working under the real enforcement, while UDP to a destination nobody observed is refused.
//
// Run under the node lock (one node per machine): flock /tmp/netpol-node.lock npx vitest run test/e2e/node-udp.test.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { FlowRecord } from '../../src/flows/record.js';
import type { RealNode } from './support/node.js';
import { applyObjects, startLearn, startNodeSuite } from './support/node-suite.js';

const NS = 'udp-app';
/** The UDP server learned (in the "internet" namespace up.sh made), and two destinations nobody used while learning. */
const LEARNED = { host: '198.51.100.20', port: 5353 };
const OTHER_HOST = { host: '203.0.113.10', port: 5353 };
const OTHER_PORT = { host: '198.51.100.20', port: 5354 };
const SERVICE_NAME = `named.${NS}.svc.cluster.local`;

/**
 * Answers every datagram with a TFTP ERROR packet naming the port: busybox's tftp client (the pod's
 * UDP client) prints it as `server error: (0) netpol-udp-ok PORT`, proof of a round trip. One socket
 * per address: a socket bound to 0.0.0.0 would answer from the namespace's primary address, which
 * the node's connection tracking does not take for the reply (it would never reach the pod).
 */
const UDP_SERVER = `const dgram = require('dgram');
for (const [host, port] of ${JSON.stringify([LEARNED, OTHER_HOST, OTHER_PORT].map((d) => [d.host, d.port]))}) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from([0, 5, 0, 0]), Buffer.from('netpol-udp-ok ' + port), Buffer.from([0])]), r.port, r.address));
  s.bind(port, host);
}`;

describe('UDP on the real node: DNS lookups and a UDP client learned, applied, enforced', () => {
  let node: RealNode;
  let work: string;
  let server: ChildProcess | undefined;
  let clientPod = '';

  async function inPod(script: string): Promise<string> {
    const r = await node.kubectl(['exec', '-n', NS, clientPod, '--', 'sh', '-c', script], { allowFail: true });
    return `${r.stdout}${r.stderr}`;
  }
  /** One TFTP read request to host:port from the client pod: `ok` when the server's answer came back, else what the pod printed. */
  async function udpCall(to: { host: string; port: number }): Promise<string> {
    const out = await inPod(`timeout 3 tftp -g -r x -l /tmp/x ${to.host} ${to.port} 2>&1; echo "exit $?"`);
    return out.includes(`netpol-udp-ok ${to.port}`) ? 'ok' : `no answer: ${out.trim()}`;
  }
  /** The Service's ClusterIP as the pod's resolver (CoreDNS) answers it, or the failure. */
  async function lookup(): Promise<string> {
    const out = await inPod(`timeout 5 nslookup ${SERVICE_NAME} 2>&1; true`);
    const m = /Name:\s+\S+\s+Address:\s+(\S+)/.exec(out);
    return m ? m[1]! : `no answer: ${out.trim()}`;
  }

  beforeAll(async () => {
    ({ node, work } = await startNodeSuite('netpol-node-udp-'));
    const made = Object.fromEntries(
      readFileSync(join(node.dir, 'made'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => l.split('=') as [string, string]),
    );
    expect([node.env.NETPOL_OUTSIDE_HTTP, node.env.NETPOL_OUTSIDE_HTTPS].sort()).toEqual([LEARNED.host, OTHER_HOST.host].sort());
    server = spawn('nsenter', [`--net=/run/netns/${made.INET_NS}`, '--', process.execPath, '-e', UDP_SERVER], { stdio: ['ignore', 'ignore', 'inherit'] });
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'client', namespace: NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'client' } },
          template: { metadata: { labels: { app: 'client' } }, spec: { containers: [{ name: 'client', image: 'busybox', command: ['sleep', '3600'] }] } },
        },
      },
      // A Service for the client to look up by name (CoreDNS answers its ClusterIP).
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'named', namespace: NS }, spec: { selector: { app: 'client' }, ports: [{ port: 80 }] } },
    ];
    await applyObjects(node, work, objects);
    await node.kubectl(['wait', '--for=condition=Available', 'deployment', '--all', '-n', NS, '--timeout=90s']);
    clientPod = (await node.kubectl(['get', 'pods', '-n', NS, '-l', 'app=client', '-o', 'jsonpath={.items[0].metadata.name}'])).stdout;
  });

  afterAll(async () => {
    server?.kill('SIGKILL');
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('records the lookups and the UDP client as UDP flows, learns them, and after applying they keep working while an unlearned UDP destination is refused', async () => {
    const clusterIP = (await node.kubectl(['get', 'service', '-n', NS, 'named', '-o', 'jsonpath={.spec.clusterIP}'])).stdout;
    // Before any policy: the name resolves and every UDP destination answers.
    expect(await lookup()).toBe(clusterIP);
    expect(await udpCall(LEARNED)).toBe('ok');
    expect(await udpCall(OTHER_HOST)).toBe('ok');
    expect(await udpCall(OTHER_PORT)).toBe('ok');

    // netpol learn on the node's side (as the agent runs) while the pod looks up and calls.
    const out = join(work, 'policies');
    const record = join(work, 'udp.jsonl');
    const learn = await startLearn(node, ['-n', NS, '-l', 'app=client', '--record', record, '--out', out]);
    expect(await lookup()).toBe(clusterIP);
    expect(await udpCall(LEARNED)).toBe('ok');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await learn.interrupt(), learn.stderr).toBe(0);
    expect(learn.stderr).not.toContain('UDP is not observed');

    // The recording: the lookups (to the kube-dns ClusterIP, UDP) and the UDP client, each marked as
    // recorded with UDP observed.
    const flows = readFileSync(record, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as FlowRecord);
    const udp = flows.filter((f) => f.proto === 'UDP');
    expect(udp.map((f) => `${f.src.pod?.replace(/-[a-z0-9]+-[a-z0-9]+$/, '')} ${f.dst.namespace ?? '-'}/${f.dst.service ?? f.dst.ip}:${f.dst.port}`).sort()).toEqual(
      [`client kube-system/kube-dns:53`, `client -/${LEARNED.host}:${LEARNED.port}`].sort(),
    );
    expect(udp.find((f) => f.dst.port === 53)?.src.comm).toBe('nslookup');
    for (const f of flows) expect(f.observed).toEqual(['TCP', 'UDP']);

    // The policy: the DNS rule learned from the lookups (UDP 53 to the CoreDNS pods only), the UDP server's /32.
    const policy = parseYaml(readFileSync(join(out, NS, 'client.yaml'), 'utf8')) as Record<string, any>;
    expect(policy.metadata.annotations['netpol.io/dns']).toBe('observed');
    expect(policy.spec.egress).toEqual([
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }] },
      { to: [{ ipBlock: { cidr: `${LEARNED.host}/32` } }], ports: [{ protocol: 'UDP', port: LEARNED.port }] },
    ]);
    expect(learn.stderr).toContain('dns: learned from observed lookups to kube-system/k8s-app=kube-dns for 1 policy');

    // Applied as a user would; the real dataplane enforces it.
    await node.kubectl(['apply', '-k', out]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(await lookup()).toBe(clusterIP);
    expect(await udpCall(LEARNED)).toBe('ok');
    // Cut off by busybox's timeout (SIGTERM): nothing came back, the dataplane dropped the datagram.
    const timedOut = /^no answer: (Terminated\n)?exit 143$/;
    expect(await udpCall(OTHER_HOST)).toMatch(timedOut);
    expect(await udpCall(OTHER_PORT)).toMatch(timedOut);
    // …and the learned policy still lets the learned one through after the refusals (no state broke).
    expect(await udpCall(LEARNED)).toBe('ok');
  }, 240_000);
});
