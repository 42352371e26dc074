// Issue 9: an audit never reports "allowed" for what it could not judge — diff without a cluster,
// records naming pods a rollout replaced, records naming pods nobody knows.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, netpol } from '../support/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'netpol-green-'));
beforeAll(() => ensureBuilt(), 300_000);

const CLUSTER = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: default, labels: {kubernetes.io/metadata.name: default}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: default}
  spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}}}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    name: web-5d8f7c9b4
    namespace: default
    ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}]
  spec: {selector: {matchLabels: {app: web, pod-template-hash: 5d8f7c9b4}}}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-5d8f7c9b4-ab3cd
    namespace: default
    labels: {app: web, pod-template-hash: 5d8f7c9b4}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f7c9b4, uid: u2, controller: true}]
  spec: {containers: [{name: web}]}
  status: {podIP: 10.0.0.20, podIPs: [{ip: 10.0.0.20}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: client, namespace: default, labels: {run: client}}
  spec: {containers: [{name: client}]}
  status: {podIP: 10.0.0.5, podIPs: [{ip: 10.0.0.5}]}
`;

const POLICIES = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client, namespace: default}
spec:
  podSelector: {matchLabels: {run: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{protocol: TCP, port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {run: client}}}]
    ports: [{protocol: TCP, port: 8080}]
`;

function write(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const flow = (o: object) => JSON.stringify({ v: 1, proto: 'TCP', ...o });

describe('diff and check never pass what they did not judge', () => {
  it('diff without --cluster refuses (exit 2, says what to give) instead of allowing every flow', () => {
    const flows = write('any.jsonl', flow({ id: 'a', src: { namespace: 'default', pod: 'client', ip: '10.0.0.5' }, dst: { ip: '203.0.113.5', port: 443 } }) + '\n');
    const policies = write('p.yaml', POLICIES);
    const r = netpol(['diff', '--flows', flows, '--policies', policies]);
    expect(r.code).toBe(2);
    expect(r.stdout).not.toMatch(/allowed/);
    expect(r.stderr).toMatch(/--cluster/);
    expect(r.stderr).toMatch(/neither end is a pod/);
    const c = netpol(['check', '--flows', flows, '--policies', policies, '--no-drift']);
    expect(c.code).toBe(2);
  });

  it('a flow recorded before a rollout is judged as a pod of its workload, and says so', () => {
    const cluster = write('c.yaml', CLUSTER);
    const policies = write('p2.yaml', POLICIES);
    // The pod web-7c6d5b4a3-zz9yy (10.0.0.9) was replaced by web-5d8f7c9b4-ab3cd (10.0.0.20).
    const flows = write(
      'rollout.jsonl',
      flow({ id: 'old', src: { namespace: 'default', pod: 'client', ip: '10.0.0.5' }, dst: { ip: '10.0.0.9', port: 8080, namespace: 'default', pod: 'web-7c6d5b4a3-zz9yy' } }) + '\n',
    );
    const r = netpol(['diff', '--flows', flows, '--policies', policies, '--cluster', cluster, '-o', 'json']);
    const report = JSON.parse(r.stdout);
    expect(report.flows[0]).toMatchObject({ id: 'old', dst: 'p/default/web-7c6d5b4a3-zz9yy:8080', verdict: 'allowed' });
    expect(report.flows[0].reason).toMatch(/no longer in the cluster view: judged as a pod of Deployment default\/web/);
    expect(r.code).toBe(0);
  });

  it('a source pod nobody knows is unjudged (exit 1), not "neither end is a pod"', () => {
    const cluster = write('c3.yaml', CLUSTER);
    const policies = write('p3.yaml', POLICIES);
    const flows = write(
      'ghost.jsonl',
      flow({ id: 'ghost', src: { namespace: 'default', pod: 'ghost', ip: '10.0.0.66' }, dst: { ip: '203.0.113.5', port: 443 } }) +
        '\n' +
        flow({ id: 'gone-svc', src: { namespace: 'default', pod: 'client', ip: '10.0.0.5' }, dst: { ip: '10.96.0.99', port: 80, namespace: 'default', service: 'gone' } }) +
        '\n',
    );
    const r = netpol(['diff', '--flows', flows, '--policies', policies, '--cluster', cluster, '-o', 'json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    const byId = Object.fromEntries(report.flows.map((f: { id: string }) => [f.id, f]));
    expect(byId.ghost).toMatchObject({ verdict: 'unjudged' });
    expect(byId.ghost.reason).toMatch(/source pod default\/ghost is not in the cluster view/);
    expect(byId['gone-svc']).toMatchObject({ verdict: 'unjudged' });
    expect(report.summary).toEqual({ total: 2, allowed: 0, denied: 0, unjudged: 2 });
    const table = netpol(['diff', '--flows', flows, '--policies', policies, '--cluster', cluster]);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(/2 flows: 0 allowed, 0 denied, 2 unjudged/);
    const check = netpol(['check', '--flows', flows, '--policies', policies, '--cluster', cluster, '--no-drift']);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^FAIL: /m);
    expect(check.stdout).toMatch(/unjudged/);
  });

  it('every report of check fails an unjudged flow: JUnit failure, SARIF result, GitHub annotation, Markdown section', () => {
    const cluster = write('c4.yaml', CLUSTER);
    const policies = write('p4.yaml', POLICIES);
    const flows = write('ghost4.jsonl', flow({ id: 'ghost', src: { namespace: 'default', pod: 'ghost', ip: '10.0.0.66' }, dst: { ip: '203.0.113.5', port: 443 } }) + '\n');
    const [junit, sarif, markdown] = ['r.xml', 'r.sarif', 'r.md'].map((n) => join(tmp, n)) as [string, string, string];
    const r = netpol(['check', '--flows', flows, '--policies', policies, '--cluster', cluster, '--no-drift', '--github', '--junit', junit, '--sarif', sarif, '--markdown', markdown]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^::error .*line=1,title=netpol%3A unjudged .*\[ghost\] could not be judged: source pod default\/ghost is not in the cluster view/m);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuite name="flows" tests="1" failures="1"/);
    expect(xml).toMatch(/<failure message="could not be judged: [^"]*" type="unjudged">/);
    const log = JSON.parse(readFileSync(sarif, 'utf8'));
    expect(log.runs[0].results.map((x: { ruleId: string; level: string }) => [x.ruleId, x.level])).toEqual([['NP1002', 'error']]);
    expect(log.runs[0].tool.driver.rules.map((x: { id: string }) => x.id)).toContain('NP1002');
    const md = readFileSync(markdown, 'utf8');
    expect(md).toMatch(/^## netpol check: ❌ failed/);
    expect(md).toMatch(/1 observed flow could not be judged/);
    expect(md).toMatch(/### Flows that could not be judged/);
  });
});
