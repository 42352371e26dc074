// UDP through the offline chain of the real CLI: a recording made while UDP was observed learns
// the DNS rule from the lookups seen (UDP 53 only) and a UDP rule for an outside UDP server; then
// diff, check and explain judge UDP flows like TCP ones, protocol included.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, netpol, ROOT } from '../support/cli.js';

const CLUSTER = join(ROOT, 'fixtures/demo/cluster.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'netpol-udp-'));

beforeAll(() => ensureBuilt(), 300_000);

function flow(id: string, proto: 'TCP' | 'UDP', ip: string, port: number, observed: string[] | null = ['TCP', 'UDP']): string {
  return JSON.stringify({
    v: 1,
    id,
    ts: '2026-12-06T10:00:00.000Z',
    proto,
    src: { ip: '10.244.0.12', namespace: 'default', pod: 'mypod', container: 'mypod' },
    dst: { ip, port },
    ...(observed ? { observed } : {}),
  });
}

function write(name: string, lines: string[]): string {
  const p = join(tmp, name);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

const recording = () =>
  write('rec.jsonl', [flow('dns', 'UDP', '10.96.0.10', 53), flow('web', 'TCP', '1.1.1.1', 443), flow('udp-srv', 'UDP', '198.51.100.20', 5353)]);

describe('UDP learned and judged offline', () => {
  const out = join(tmp, 'policies');

  it('learns the observed DNS lookup (UDP 53 to the CoreDNS pods, not TCP 53) and the UDP server, annotated observed', () => {
    const r = netpol(['learn', '--flows', recording(), '--cluster', CLUSTER, '-l', 'run=mypod', '--out', out]);
    expect(r.code).toBe(0);
    const policy = parseAllDocuments(readFileSync(join(out, 'default/mypod.yaml'), 'utf8'))[0]!.toJS();
    expect(policy.metadata.annotations).toMatchObject({ 'netpol.io/dns': 'observed' });
    expect(policy.spec.egress).toEqual([
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }] },
      { to: [{ ipBlock: { cidr: '1.1.1.1/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
      { to: [{ ipBlock: { cidr: '198.51.100.20/32' } }], ports: [{ protocol: 'UDP', port: 5353 }] },
    ]);
    expect(r.stderr).toContain('dns: learned from observed lookups to kube-system/k8s-app=kube-dns for 1 policy');
  });

  it('diff judges each UDP flow by protocol and port', () => {
    const later = write('later.jsonl', [
      flow('u-dns', 'UDP', '10.96.0.10', 53),
      flow('t-dns', 'TCP', '10.96.0.10', 53),
      flow('u-srv', 'UDP', '198.51.100.20', 5353),
      flow('t-srv', 'TCP', '198.51.100.20', 5353),
      flow('u-port', 'UDP', '198.51.100.20', 5354),
      flow('u-host', 'UDP', '203.0.113.10', 5353),
    ]);
    const r = netpol(['diff', '--flows', later, '--policies', out, '--cluster', CLUSTER, '-o', 'json']);
    expect(r.code).toBe(1);
    const verdicts = Object.fromEntries(JSON.parse(r.stdout).flows.map((f: { id: string; verdict: string }) => [f.id, f.verdict]));
    expect(verdicts).toEqual({ 'u-dns': 'allowed', 't-dns': 'denied', 'u-srv': 'allowed', 't-srv': 'denied', 'u-port': 'denied', 'u-host': 'denied' });

    const check = netpol(['check', '--flows', later, '--policies', out, '--cluster', CLUSTER, '--no-drift']);
    expect(check.code).toBe(1);
    const explain = netpol(['explain', '--flows', later, '--policies', out, '--cluster', CLUSTER, '--id', 't-srv']);
    expect(explain.stdout).toContain('5353/UDP');
    expect(explain.stdout).toMatch(/denied/i);
  });

  it('check passes the recording it was learned from, drift included (the regenerated policy reads the same mark)', () => {
    const r = netpol(['check', '--flows', recording(), '--policies', out, '--cluster', CLUSTER, '-l', 'run=mypod']);
    expect(r.stdout).toContain('PASS: 3 flows: 3 allowed, 0 denied; 0 drifted file(s)');
    expect(r.code).toBe(0);
  });

  it('a recording without the mark keeps the assumed DNS rule (TCP and UDP 53) and says so', () => {
    const old = write('old.jsonl', [flow('web', 'TCP', '1.1.1.1', 443, null)]);
    const r = netpol(['learn', '--flows', old, '--cluster', CLUSTER, '-l', 'run=mypod']);
    expect(r.code).toBe(0);
    const policy = parseAllDocuments(r.stdout)[0]!.toJS();
    expect(policy.metadata.annotations['netpol.io/dns']).toBeUndefined();
    expect(policy.spec.egress).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [
        { protocol: 'TCP', port: 53 },
        { protocol: 'UDP', port: 53 },
      ],
    });
    expect(r.stderr).toContain('dns: assumed for 1 policy (their flows were recorded without observing UDP)');
  });

  it('--proto is checked: tcp is required, only tcp and udp exist, and a recording is not re-observed', () => {
    const noTcp = netpol(['learn', '--local', '--proto', 'udp']);
    expect(noTcp.code).toBe(2);
    expect(noTcp.stderr).toContain('learn needs tcp');
    const other = netpol(['learn', '--local', '--proto', 'tcp,sctp']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('unknown protocol "sctp"');
    const offline = netpol(['learn', '--flows', recording(), '--cluster', CLUSTER, '--proto', 'tcp']);
    expect(offline.code).toBe(2);
    expect(offline.stderr).toContain('--proto: chooses what --local/-l observe');
  });
});
