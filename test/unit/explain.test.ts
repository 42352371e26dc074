import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicies, evaluate } from '../../src/policy/evaluate.js';
import { checkPeer, checkPort, explainFlow, explainTraffic } from '../../src/policy/explain.js';
import { compilePeer } from '../../src/policy/peer-matcher.js';
import { compilePort } from '../../src/policy/port-matcher.js';
import { resolveFlow, type Traffic } from '../../src/policy/traffic.js';
import { locatedFlows, screensIndex, screensPolicies } from './support/screens-fixture.js';

const index = screensIndex();
const set = compilePolicies(screensPolicies());
const flow = (id: string) => locatedFlows().find((f) => f.id === id)!;
const explain = (id: string) => explainFlow(set, resolveFlow(flow(id), index));

describe('explainFlow', () => {
  it('names the policy that dropped the seed flow and the rule that did not match (peer mismatch)', () => {
    const e = explain('seed-3');
    expect(e.verdict).toBe('denied');
    expect(e.droppedBy).toEqual(['default/mypod']);
    expect(e.src).toBe('p/default/mypod:40000');
    expect(e.dst).toBe('r/1.0.0.1:80');
    expect(e.origin).toEqual({ file: 'flows.jsonl', line: 3 });
    expect(e.summary).toBe('denied by default/mypod: egress of default/mypod: denied — isolated by default/mypod and its one rule does not match');
    const t = e.targets[0]!;
    expect(t.ingress).toMatchObject({ applies: false, allowed: true, summary: 'r/1.0.0.1 is not a pod of the cluster: no ingress gate' });
    const rule = t.egress.policies[0]!.rules[0]!;
    expect(rule.outcome).toBe('peer-mismatch');
    expect(rule.summary).toBe('egress[0]: peer mismatch — 1.0.0.1 is not in 1.1.1.1/32');
    expect(rule.peers).toEqual([{ entry: 'ipBlock 1.1.1.1/32', matched: false, why: '1.0.0.1 is not in 1.1.1.1/32' }]);
    expect(rule.ports).toEqual([
      { entry: '80/TCP', matched: true, why: 'port 80 is 80' },
      { entry: '443/TCP', matched: false, why: 'port 80, not 443' },
    ]);
  });

  it('explains an allowed flow through a Service with the named targetPort', () => {
    const e = explain('web-1');
    expect(e.verdict).toBe('allowed');
    expect(e.dst).toBe('s/shop/api:80');
    const t = e.targets[0]!;
    expect(t.via).toBe('s/shop/api:80');
    expect(t.dst).toBe('p/shop/api-0:8080');
    expect(t.egress.summary).toBe('egress of shop/web-7c9d8f6b5-abcde: allowed — no policy selects the pod');
    expect(t.ingress.summary).toBe('ingress of shop/api-0: allowed by shop/api ingress[0]');
    const rule = t.ingress.policies[0]!.rules[0]!;
    expect(rule.summary).toBe('ingress[0]: matches (pods app=web in namespace shop, http/TCP)');
    expect(rule.ports).toEqual([{ entry: 'http/TCP', matched: true, why: '"http" is 8080 on p/shop/api-0' }]);
  });

  it('says namespace mismatch for a cross-namespace peer', () => {
    const e = explain('api-1');
    expect(e.verdict).toBe('denied');
    expect(e.droppedBy).toEqual(['payments/ledger']);
    const rule = e.targets[0]!.ingress.policies[0]!.rules[0]!;
    expect(rule.outcome).toBe('peer-mismatch');
    expect(rule.peers![0]!.why).toBe('namespace mismatch: pod is in shop, the peer means payments');
    expect(rule.ports).toBeNull();
  });

  it('reports a port mismatch and a mismatch on both', () => {
    const web = resolveFlow(flow('web-1'), index).targets[0]!;
    const onOtherPort: Traffic = { ...web, port: 9090 };
    const rule = explainTraffic(set, onOtherPort).ingress.policies[0]!.rules[0]!;
    expect(rule.outcome).toBe('port-mismatch');
    expect(rule.summary).toBe('ingress[0]: port mismatch — "http" is 8080 on p/shop/api-0, the traffic reaches 9090');
    const fromMypod = resolveFlow({ ...flow('seed-1'), dst: { ip: '10.96.12.34', port: 80 } }, index).targets[0]!;
    const both = explainTraffic(set, { ...fromMypod, port: 9090 });
    expect(both.ingress.policies[0]!.rules[0]!.outcome).toBe('peer-and-port-mismatch');
    expect(both.egress.policies[0]!.rules[0]!.outcome).toBe('peer-and-port-mismatch');
    expect(both.droppedBy).toEqual(['default/mypod', 'shop/api']);
  });

  it('with several entries, says the traffic is none of them', () => {
    const t = resolveFlow({ ...flow('seed-1'), dst: { ip: '1.1.1.1', port: 22 } }, index).targets[0]!;
    const rule = explainTraffic(set, t).egress.policies[0]!.rules[0]!;
    expect(rule.summary).toBe('egress[0]: port mismatch — 22/TCP is none of 80/TCP, 443/TCP');
  });

  it('peer and port checks say why', () => {
    const ep = resolveFlow(flow('web-1'), index).targets[0]!;
    expect(checkPeer(compilePeer({ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.1.0/24'] } }, 'shop'), ep.dst).why).toBe(
      '10.244.1.20 is in 10.244.0.0/16 but excepted by 10.244.1.0/24',
    );
    expect(checkPeer(compilePeer({ podSelector: { matchLabels: { app: 'db' } } }, 'shop'), ep.dst).why).toBe('pod labels app=api do not match');
    expect(checkPeer(compilePeer({ namespaceSelector: { matchLabels: { team: 'x' } } }, 'shop'), ep.dst).why).toBe(
      'namespace mismatch: namespace shop (kubernetes.io/metadata.name=shop) does not match team=x',
    );
    const outside = resolveFlow(flow('seed-1'), index).targets[0]!.dst;
    expect(checkPeer(compilePeer({ podSelector: {} }, 'default'), outside).why).toBe('r/1.1.1.1 is not a pod; pod and namespace selectors match only pods');
    expect(checkPort(compilePort({ port: 53, protocol: 'UDP' }), 53, 'TCP', outside).why).toBe('protocol TCP, not UDP');
    expect(checkPort(compilePort({ port: 8000, endPort: 8999 }), 8080, 'TCP', outside)).toMatchObject({ matched: true, why: 'port 8080 is in 8000-8999' });
    expect(checkPort(compilePort({ port: 'http' }), 80, 'TCP', outside).why).toBe('named port "http" needs a pod destination; r/1.1.1.1 is not one');
    expect(checkPort(compilePort({ port: 'grpc' }), 8080, 'TCP', ep.dst).why).toBe('p/shop/api-0 has no TCP container port named "grpc"');
  });

  it('a policy selecting the pod without isolating that direction is listed but does not deny', () => {
    const e = explain('seed-1');
    expect(e.verdict).toBe('allowed');
    const t = e.targets[0]!;
    expect(t.egress.summary).toBe('egress of default/mypod: allowed by default/mypod egress[0]');
  });

  it('never disagrees with the evaluator (every pod pair, ports and protocols)', () => {
    const pods = ['10.244.0.12', '10.244.1.10', '10.244.1.20', '10.244.3.30', '1.1.1.1', '1.0.0.1', '10.96.12.34', '10.96.40.5'];
    fc.assert(
      fc.property(
        fc.constantFrom(...pods.slice(0, 4)),
        fc.constantFrom(...pods),
        fc.constantFrom(80, 443, 5432, 8080, 15432, 9090),
        fc.constantFrom('TCP' as const, 'UDP' as const),
        (src, dst, port, proto) => {
          const resolved = resolveFlow({ v: 1, proto, src: { ip: src }, dst: { ip: dst, port } }, index);
          for (const t of resolved.targets) {
            const verdict = evaluate(set, t);
            const ex = explainTraffic(set, t);
            expect(ex.verdict).toBe(verdict.verdict);
            expect(ex.egress.allowed).toBe(verdict.egress.allowed);
            expect(ex.ingress.allowed).toBe(verdict.ingress.allowed);
            expect(ex.egress.applies).toBe(verdict.egress.applies);
            expect(ex.ingress.applies).toBe(verdict.ingress.applies);
            const allowedBy = [ex.egress, ex.ingress].flatMap((g) => g.policies.flatMap((p) => p.rules.filter((r) => r.outcome === 'matches').map((r) => r.ref)));
            expect(allowedBy).toEqual([...verdict.egress.allowedBy, ...verdict.ingress.allowedBy]);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is plain data that JSON round-trips', () => {
    const e = explain('web-1');
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });
});
