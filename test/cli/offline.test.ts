// The offline chain through the real CLI: learn → policy files → diff / check, exit codes and errors.
import { cpSync, existsSync, symlinkSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, netpol, ROOT } from '../support/cli.js';

const CLUSTER = join(ROOT, 'fixtures/demo/cluster.yaml');
const FLOWS = join(ROOT, 'fixtures/demo/flows.jsonl');
const LATER = join(ROOT, 'fixtures/demo/flows-later.jsonl');
const tmp = mkdtempSync(join(tmpdir(), 'netpol-cli-'));

beforeAll(() => ensureBuilt(), 300_000);

function seedFlows(): string {
  const p = join(tmp, 'seed.jsonl');
  const lines = readFileSync(FLOWS, 'utf8').split('\n').filter((l) => l.includes('"pod":"mypod"'));
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

describe('the seed scenario', () => {
  it('learns the seed policy for run=mypod: egress to 1.1.1.1/32 on 80 and 443, plus DNS', () => {
    const r = netpol(['learn', '--flows', seedFlows(), '--cluster', CLUSTER, '-l', 'run=mypod']);
    expect(r.code).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    expect(docs).toHaveLength(1);
    const policy = docs[0];
    expect(policy.metadata).toMatchObject({ name: 'mypod', namespace: 'default' });
    expect(policy.spec.podSelector).toEqual({ matchLabels: { run: 'mypod' } });
    expect(policy.spec.policyTypes).toEqual(['Egress']);
    expect(policy.spec.egress).toContainEqual({
      to: [{ ipBlock: { cidr: '1.1.1.1/32' } }],
      ports: [
        { protocol: 'TCP', port: 80 },
        { protocol: 'TCP', port: 443 },
      ],
    });
    expect(policy.spec.egress).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [
        { protocol: 'TCP', port: 53 },
        { protocol: 'UDP', port: 53 },
      ],
    });
    expect(r.stderr).toContain('learned 1 policy from 2 flows');
  });

  it('then flags the connect to 1.0.0.1:80 as denied, first, with the reason; exit 1', () => {
    const out = join(tmp, 'seed-policies');
    expect(netpol(['learn', '--flows', seedFlows(), '--cluster', CLUSTER, '-l', 'run=mypod', '--out', out]).code).toBe(0);
    const r = netpol(['diff', '--flows', LATER, '--policies', out, '--cluster', CLUSTER, '-o', 'json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.flows[0]).toMatchObject({ id: 'seed-5', src: 'p/default/mypod:17418', dst: 'r/1.0.0.1:80', proto: 'TCP', verdict: 'denied' });
    expect(report.flows[0].egress).toMatchObject({ applies: true, isolated: true, isolatedBy: ['default/mypod'], allowedBy: [], allowed: false });
    expect(report.flows[0].ingress.applies).toBe(false);
    const byId = Object.fromEntries(report.flows.map((f: { id: string; verdict: string }) => [f.id, f.verdict]));
    expect(byId).toMatchObject({ 'seed-3': 'allowed', 'seed-4': 'allowed' });
    expect(report.flows.find((f: { id: string }) => f.id === 'seed-3').egress.allowedBy).toEqual([{ policy: 'default/mypod', direction: 'egress', rule: 1 }]);
    // Only mypod has a policy here: web → api:9090 is not isolated on either side, so it is allowed.
    expect(report.summary).toEqual({ total: 5, allowed: 4, denied: 1, unjudged: 0 });
  });
});

describe('the README quick start', () => {
  it('npm run demo prints the learned demo policies', () => {
    const r = spawnSync('npm', ['run', '--silent', 'demo'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(ROOT, 'policies/default/mypod.yaml'), 'utf8').replace(/^/, '---\n') + ['payments/ledger.yaml', 'shop/api.yaml', 'shop/web.yaml'].map((f) => `---\n${readFileSync(join(ROOT, 'policies', f), 'utf8')}`).join(''));
    expect(r.stderr).toContain('learned 4 policies from 12 flows');
  });
});

describe('diff --explain', () => {
  it('explains each denied connection rule by rule', () => {
    const r = netpol(['diff', '--flows', LATER, '--policies', 'policies', '--cluster', CLUSTER, '--explain', '--denied-only']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('flow seed-5');
    expect(r.stdout).toMatch(/egress\[1\]: peer mismatch — 1\.0\.0\.1 is not in 1\.1\.1\.1\/32/);
    expect(r.stdout).toMatch(/ingress\[0\]: port mismatch — port 9090, not 8080/);
    expect(r.stdout).not.toContain('ALLOWED');
  });
});

describe('learn', () => {
  it('writes policies/<ns>/<workload>.yaml and a kustomization, byte-identical on a second run and for shuffled input', () => {
    const a = join(tmp, 'tree-a');
    const b = join(tmp, 'tree-b');
    expect(netpol(['learn', '--flows', FLOWS, '--cluster', CLUSTER, '--out', a]).code).toBe(0);
    const shuffled = join(tmp, 'shuffled.jsonl');
    writeFileSync(shuffled, readFileSync(FLOWS, 'utf8').trim().split('\n').reverse().join('\n') + '\n');
    expect(netpol(['learn', '--flows', shuffled, '--cluster', CLUSTER, '--out', b]).code).toBe(0);
    const files = (d: string) => readdirSync(d, { recursive: true }).map(String).filter((f) => f.endsWith('.yaml')).sort();
    expect(files(a)).toEqual(['default/mypod.yaml', 'kustomization.yaml', 'payments/ledger.yaml', 'shop/api.yaml', 'shop/web.yaml']);
    for (const f of files(a)) expect(readFileSync(join(b, f), 'utf8')).toBe(readFileSync(join(a, f), 'utf8'));
    const again = netpol(['learn', '--flows', FLOWS, '--cluster', CLUSTER, '--out', a]);
    expect(again.stderr).toContain('5 file(s) unchanged');
    expect(again.stderr).not.toContain('wrote');
  });

  it('matches the committed demo policies (the CI drift example)', () => {
    const r = netpol(['learn', '--flows', FLOWS, '--cluster', CLUSTER]);
    const committed = ['default/mypod.yaml', 'payments/ledger.yaml', 'shop/api.yaml', 'shop/web.yaml']
      .map((f) => `---\n${readFileSync(join(ROOT, 'policies', f), 'utf8')}`)
      .join('');
    expect(r.stdout).toBe(committed);
  });

  it('allows a Service as its backing pods on the targetPort, never the ClusterIP', () => {
    const r = netpol(['learn', '--flows', FLOWS, '--cluster', CLUSTER, '-n', 'shop', '-l', 'app=web', '-o', 'json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['web']);
    const text = JSON.stringify(list);
    expect(text).not.toContain('10.96.12.34');
    expect(list.items[0].spec.egress).toContainEqual({ to: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: 8080 }] });
  });

  it('leaves out connects nobody answered, says so, and learns them with --include-failed', () => {
    const r = netpol(['learn', '--flows', LATER, '--cluster', CLUSTER, '-l', 'run=mypod']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1.1.1.1/32');
    expect(r.stdout).not.toContain('1.0.0.1');
    expect(r.stderr).toContain('left out 2 flows whose connect nobody answered (timeout, closed or error)'); // seed-5 and web-metrics
    const all = netpol(['learn', '--flows', LATER, '--cluster', CLUSTER, '-l', 'run=mypod', '--include-failed']);
    expect(all.stdout).toContain('1.0.0.1/32');
    expect(all.stderr).not.toContain('left out');
  });

  it('omits DNS with --no-dns and reports widening with --aggregate-cidr', () => {
    const flows = join(tmp, 'wide.jsonl');
    const rows = ['203.0.113.4', '203.0.113.5', '203.0.113.9'].map((ip, i) =>
      JSON.stringify({ v: 1, proto: 'TCP', src: { namespace: 'default', pod: 'mypod', ip: '10.244.0.12', port: 4000 + i }, dst: { ip, port: 443 } }),
    );
    writeFileSync(flows, rows.join('\n') + '\n');
    const r = netpol(['learn', '--flows', flows, '--cluster', CLUSTER, '--no-dns', '--aggregate-cidr', '24']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('kube-dns');
    expect(r.stdout).toContain('203.0.113.0/24');
    expect(r.stderr).toMatch(/widened default\/mypod egress cidr: .*203\.0\.113\.4.* → 203\.0\.113\.0\/24/);
  });
});

describe('check', () => {
  it('passes on the committed demo policies, and writes JUnit and SARIF', () => {
    const junit = join(tmp, 'junit.xml');
    const sarif = join(tmp, 'netpol.sarif');
    const r = netpol(['check', '--policies', 'policies', '--flows', FLOWS, '--cluster', CLUSTER, '--junit', junit, '--sarif', sarif]);
    expect(r.stdout).toContain('PASS: 12 flows: 12 allowed, 0 denied; 0 drifted file(s)');
    expect(r.code).toBe(0);
    expect(readFileSync(junit, 'utf8')).toContain('<testsuites');
    expect(JSON.parse(readFileSync(sarif, 'utf8')).version).toBe('2.1.0');
  });

  it('fails on drift and on denied flows, with GitHub annotations', () => {
    const dir = join(tmp, 'drifted');
    cpSync(join(ROOT, 'policies'), dir, { recursive: true });
    const web = join(dir, 'shop/web.yaml');
    writeFileSync(web, readFileSync(web, 'utf8').replace('port: 8080', 'port: 8081'));
    const r = netpol(['check', '--policies', dir, '--flows', FLOWS, '--cluster', CLUSTER, '--github']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('drift (changed) shop/web.yaml');
    expect(r.stdout).toMatch(/-\s+port: 8081/);
    expect(r.stdout).toMatch(/\+\s+port: 8080/);
    expect(r.stdout).toMatch(/^::error /m);
    expect(r.stdout).toContain('FAIL: 12 flows: 6 allowed, 6 denied; 1 drifted file(s)');
  });

  it('treats a reformatted but equivalent file as no drift', () => {
    const dir = join(tmp, 'reformatted');
    cpSync(join(ROOT, 'policies'), dir, { recursive: true });
    const p = join(dir, 'default/mypod.yaml');
    const doc = parseAllDocuments(readFileSync(p, 'utf8'))[0]!.toJS();
    writeFileSync(p, JSON.stringify(doc)); // JSON is YAML: same object, different text
    const r = netpol(['check', '--policies', dir, '--flows', FLOWS, '--cluster', CLUSTER]);
    expect(r.stdout).toContain('0 drifted file(s)');
    expect(r.code).toBe(0);
  });
});

describe('bad input: a clear error naming file and line, exit 2, nothing written', () => {
  it.each([
    ['a missing flows file', () => ['learn', '--flows', join(tmp, 'nope.jsonl'), '--cluster', CLUSTER], /nope\.jsonl: cannot read flows: no such file/],
    ['a JSONL line that is not a flow', () => {
      const p = join(tmp, 'badline.jsonl');
      writeFileSync(p, readFileSync(FLOWS, 'utf8') + '{"v":1,"proto":"TCP","src":{"ip":"10.0.0.1"},"dst":{"ip":"1.1.1.1"}}\n');
      return ['learn', '--flows', p, '--cluster', CLUSTER];
    }, /badline\.jsonl:13: dst\.port: must be an integer/],
    ['invalid YAML in the snapshot', () => {
      const p = join(tmp, 'bad-cluster.yaml');
      writeFileSync(p, 'apiVersion: v1\nkind: List\nitems:\n  - {kind: Pod\n');
      return ['learn', '--flows', FLOWS, '--cluster', p];
    }, /bad-cluster\.yaml:\d+: invalid YAML/],
    ['a policy the API server would reject', () => {
      const p = join(tmp, 'bad-policy.yaml');
      writeFileSync(p, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: default}\nspec:\n  podSelector: {}\n  egress:\n  - ports:\n    - {port: 443, endPort: 80}\n');
      return ['diff', '--flows', FLOWS, '--policies', p, '--cluster', CLUSTER];
    }, /bad-policy\.yaml:\d+: spec\.egress\[0\]\.ports\[0\]\.endPort/],
    ['an unknown flag', () => ['learn', '--flows', FLOWS, '--clusterr', CLUSTER], /unknown option '--clusterr'/],
    ['check with a policy file and the drift check on', () => ['check', '--policies', 'policies/default/mypod.yaml', '--flows', FLOWS, '--cluster', CLUSTER], /--policies: the drift check compares one policy directory/],
    ['a flow address that is no IP', () => {
      const p = join(tmp, 'badip.jsonl');
      writeFileSync(p, readFileSync(FLOWS, 'utf8').split('\n')[0]!.replace('"1.1.1.1"', '"1.1.1.999"') + '\n');
      return ['learn', '--flows', p, '--cluster', CLUSTER];
    }, /badip\.jsonl:1: dst\.ip: not an IP address: "1\.1\.1\.999"/],
  ])('%s', (_name, args, message) => {
    const out = join(tmp, `never-${Math.random().toString(36).slice(2)}`);
    const argv = args();
    const r = netpol(argv[0] === 'learn' ? [...argv, '--out', out] : argv);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });

  it('offline learn without a snapshot says how to make one', () => {
    const r = netpol(['learn', '--flows', FLOWS]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('kubectl get namespaces,nodes,pods');
  });
});

describe('as a kubectl plugin', () => {
  it('names itself "kubectl netpol" when run as kubectl-netpol (how npm links the bin)', () => {
    const link = join(tmp, 'kubectl-netpol');
    symlinkSync(join(ROOT, 'dist/cli/main.js'), link);
    expect(netpol(['--help'], { bin: link }).stdout).toContain('Usage: kubectl netpol');
    expect(netpol(['--help']).stdout).toContain('Usage: netpol');
  });
});
