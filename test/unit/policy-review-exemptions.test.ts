// Review findings: "a pod cannot block access to itself" and "traffic to and from the node where a
// Pod is running is always allowed" (NetworkPolicy API docs) — in evaluate(), judge()'s reasons and
// explain, which must take the same decision (src/policy/exemptions.ts).
import { describe, expect, it } from 'vitest';
import { buildIndex } from '../../src/cluster/lookup.js';
import type { V1Pod } from '../../src/cluster/objects.js';
import { compilePolicies, evaluate, judge } from '../../src/policy/evaluate.js';
import { gateStatus } from '../../src/policy/exemptions.js';
import { explainFlow, explainTraffic } from '../../src/policy/explain.js';
import { podEndpoint, resolveFlow, type Endpoint, type Traffic } from '../../src/policy/traffic.js';
import type { GateResult } from '../../src/policy/verdict.js';
import { makeCluster, makeFlow, makePod, makePolicy } from './support/cluster-factory.js';

const web = makePod({ name: 'web', labels: { app: 'web' }, ip: '10.0.0.21', nodeName: 'n1', ports: [{ name: 'http', containerPort: 8080 }] });
const peer = makePod({ name: 'peer', labels: { app: 'peer' }, ip: '10.0.0.22', nodeName: 'n1' });
const floating = makePod({ name: 'floating', labels: { app: 'floating' }, ip: '10.0.0.23' });
const webElsewhere = makePod({ name: 'web', namespace: 'other', labels: { app: 'web' }, ip: '10.0.1.21', nodeName: 'n1' });
const hostN1 = makePod({ name: 'agent-n1', labels: { app: 'agent' }, ip: '192.168.0.1', hostNetwork: true, nodeName: 'n1' });
const hostN2 = makePod({ name: 'agent-n2', labels: { app: 'agent' }, ip: '192.168.0.2', hostNetwork: true, nodeName: 'n2' });
const pods: V1Pod[] = [web, peer, floating, webElsewhere, hostN1, hostN2];
const objects = makeCluster({ pods });
objects.nodes = ['n1', 'n2'].map((n, i) => ({ metadata: { name: n }, status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${i + 1}` }] } }));
const index = buildIndex(objects);

// Deny everything, both directions, in both namespaces: whatever is allowed is allowed by an exemption.
const lockdown = compilePolicies([
  makePolicy({ name: 'lock', policyTypes: ['Ingress', 'Egress'] }),
  makePolicy({ name: 'lock', namespace: 'other', policyTypes: ['Ingress', 'Egress'] }),
]);

const ep = (p: V1Pod): Endpoint => podEndpoint(p, index);
const node1: Endpoint = { kind: 'external', ip: '192.168.0.1', node: 'n1' };
const node2: Endpoint = { kind: 'external', ip: '192.168.0.2', node: 'n2' };
const outside: Endpoint = { kind: 'external', ip: '1.1.1.1' };
/** The same pod as another object (a second snapshot of it): same namespace/name. */
const webCopy: Endpoint = { ...(ep(web) as Extract<Endpoint, { kind: 'pod' }>), pod: JSON.parse(JSON.stringify(web)) as V1Pod };

const gate = (g: GateResult): string => (!g.applies ? 'n/a' : !g.isolated ? 'open' : g.allowed ? 'allow' : `deny ${g.isolatedBy.join(', ')}`);
const traffic = (src: Endpoint, dst: Endpoint, port = 8080): Traffic => ({ src, dst, port, proto: 'TCP' });

type GateCase = [string, Endpoint, Endpoint, string, string, 'allowed' | 'denied'];

function gateTable(cases: GateCase[]): void {
  for (const [what, src, dst, egress, ingress, verdict] of cases) {
    it(what, () => {
      const v = evaluate(lockdown, traffic(src, dst));
      expect({ egress: gate(v.egress), ingress: gate(v.ingress), verdict: v.verdict }).toEqual({ egress, ingress, verdict });
      // The shared contract: a gate that does not apply passes.
      if (!v.egress.applies) expect(v.egress).toMatchObject({ isolated: false, allowed: true, allowedBy: [] });
      if (!v.ingress.applies) expect(v.ingress).toMatchObject({ isolated: false, allowed: true, allowedBy: [] });
    });
  }
}

describe('evaluate: gates that do not apply', () => {
  // what, src, dst, egress, ingress, verdict — each was denied before the fix.
  gateTable([
    ['a pod to itself (same object)', ep(web), ep(web), 'n/a', 'n/a', 'allowed'],
    ['a pod to itself (same namespace/name, another object)', ep(web), webCopy, 'n/a', 'n/a', 'allowed'],
    ['a pod to its own node address', ep(web), node1, 'n/a', 'n/a', 'allowed'],
    ['a pod to a host-network pod on its node', ep(web), ep(hostN1), 'n/a', 'n/a', 'allowed'],
  ]);
});

describe('evaluate: controls (unchanged by the fix: the exemptions are no broader than documented)', () => {
  gateTable([
    ['same name in another namespace is another pod', ep(web), ep(webElsewhere), 'deny default/lock', 'deny other/lock', 'denied'],
    ['a pod to another pod on its node', ep(web), ep(peer), 'deny default/lock', 'deny default/lock', 'denied'],
    ['a pod to another node address', ep(web), node2, 'deny default/lock', 'n/a', 'denied'],
    ['a pod to a host-network pod on another node', ep(web), ep(hostN2), 'deny default/lock', 'n/a', 'denied'],
    ['a pod with no node to a node address', ep(floating), node1, 'deny default/lock', 'n/a', 'denied'],
    ['a pod to an outside address', ep(web), outside, 'deny default/lock', 'n/a', 'denied'],
    ['its own node to a pod (exempt before the fix already)', node1, ep(web), 'n/a', 'n/a', 'allowed'],
    ['a host-network pod on its node to a pod (exempt before the fix already)', ep(hostN1), ep(web), 'n/a', 'n/a', 'allowed'],
    ['another node to a pod', node2, ep(web), 'n/a', 'deny default/lock', 'denied'],
  ]);
});

describe('gateStatus: the one decision evaluate and explain share', () => {
  it('says why', () => {
    const cases: [Traffic, string, string][] = [
      [traffic(ep(web), ep(web)), 'self', 'self'],
      [traffic(ep(web), webCopy), 'self', 'self'],
      [traffic(ep(web), node1), 'own-node', 'not-a-pod'],
      [traffic(ep(web), ep(hostN1)), 'own-node', 'host-network'],
      [traffic(node1, ep(web)), 'not-a-pod', 'own-node'],
      [traffic(ep(hostN1), ep(web)), 'host-network', 'own-node'],
      [traffic(ep(web), ep(peer)), 'applies', 'applies'],
      [traffic(ep(floating), node1), 'applies', 'not-a-pod'],
    ];
    for (const [t, egress, ingress] of cases) expect([gateStatus('egress', t), gateStatus('ingress', t)]).toEqual([egress, ingress]);
  });
});

describe('judge: reasons say why a gate does not apply', () => {
  const cases: [string, string, string, number, 'allowed' | 'denied', string][] = [
    ['a pod to itself', '10.0.0.21', '10.0.0.21', 8080, 'allowed', 'default/web to itself: a pod cannot block traffic to itself'],
    ['a pod to its own node', '10.0.0.21', '192.168.0.1', 10250, 'allowed', 'egress from default/web to its own node n1: traffic to its own node is always allowed'],
  ];
  for (const [what, src, dst, port, verdict, reason] of cases) {
    it(what, () => {
      expect(judge(lockdown, resolveFlow(makeFlow(src, dst, port), index))).toMatchObject({ verdict, reason });
    });
  }
});

describe('explain agrees with diff on the exemptions', () => {
  const cases: [string, string, string, number, 'allowed' | 'denied', string, string][] = [
    // what, src, dst, port, verdict, egress summary, ingress summary
    [
      'a pod to itself',
      '10.0.0.21',
      '10.0.0.21',
      8080,
      'allowed',
      'egress of default/web to itself: allowed — a pod cannot block traffic to itself',
      'ingress of default/web from itself: allowed — a pod cannot block traffic to itself',
    ],
    [
      'a pod to its own node',
      '10.0.0.21',
      '192.168.0.1',
      10250,
      'allowed',
      'egress of default/web to its own node n1: allowed — traffic to its own node is always allowed',
      'r/192.168.0.1 is not a pod of the cluster: no ingress gate',
    ],
    [
      'its own node to a pod',
      '192.168.0.1',
      '10.0.0.21',
      8080,
      'allowed',
      'r/192.168.0.1 is not a pod of the cluster: no egress gate',
      'ingress of default/web from its own node n1: allowed — traffic from its own node is always allowed',
    ],
  ];
  for (const [what, src, dst, port, verdict, egress, ingress] of cases) {
    it(what, () => {
      const resolved = resolveFlow(makeFlow(src, dst, port), index);
      expect(judge(lockdown, resolved).verdict).toBe(verdict);
      const e = explainFlow(lockdown, resolved);
      expect(e.verdict).toBe(verdict);
      expect([e.targets[0]!.egress.summary, e.targets[0]!.ingress.summary]).toEqual([egress, ingress]);
    });
  }

  it('says why in the one-line summary and in the exemption field', () => {
    const self = explainFlow(lockdown, resolveFlow(makeFlow('10.0.0.21', '10.0.0.21', 8080), index));
    expect(self.summary).toBe(
      'allowed: egress of default/web to itself: allowed — a pod cannot block traffic to itself; ingress of default/web from itself: allowed — a pod cannot block traffic to itself',
    );
    expect(self.targets[0]!.egress).toMatchObject({ applies: false, pod: 'default/web', exemption: 'a pod cannot block traffic to itself', droppedBy: [] });
    const probe = explainFlow(lockdown, resolveFlow(makeFlow('192.168.0.1', '10.0.0.21', 8080), index));
    expect(probe.summary).toBe('allowed: ingress of default/web from its own node n1: allowed — traffic from its own node is always allowed');
    expect(probe.droppedBy).toEqual([]);
  });

  it('never disagrees with evaluate on any pair of pods, nodes and outside addresses', () => {
    const ends: Endpoint[] = [...pods.map(ep), webCopy, node1, node2, outside];
    const sets = [
      lockdown,
      compilePolicies([makePolicy({ name: 'in', policyTypes: ['Ingress'] })]),
      compilePolicies([makePolicy({ name: 'out', podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'] })]),
      compilePolicies([]),
    ];
    let exempt = 0;
    for (const set of sets) {
      for (const src of ends) {
        for (const dst of ends) {
          if (src.kind === 'external' && dst.kind === 'external') continue;
          const t = traffic(src, dst);
          const v = evaluate(set, t);
          const ex = explainTraffic(set, t);
          const where = `${src.kind === 'pod' ? src.name : src.ip} -> ${dst.kind === 'pod' ? dst.name : dst.ip}`;
          expect([where, ex.verdict, ex.egress.applies, ex.ingress.applies, ex.egress.allowed, ex.ingress.allowed]).toEqual([
            where,
            v.verdict,
            v.egress.applies,
            v.ingress.applies,
            v.egress.allowed,
            v.ingress.allowed,
          ]);
          if (ex.egress.exemption !== undefined || ex.ingress.exemption !== undefined) exempt++;
        }
      }
    }
    expect(exempt).toBeGreaterThan(0);
  });
});
