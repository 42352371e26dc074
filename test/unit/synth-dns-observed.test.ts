// DNS seen, not assumed: a workload whose flows were all recorded while UDP was observed
// (FlowRecord.observed) gets exactly the DNS egress it was seen using; one recorded without UDP
// keeps the assumed rule. And UDP flows become UDP rules like TCP ones.
import { describe, expect, it } from 'vitest';
import type { V1NetworkPolicy } from '../../src/cluster/objects.js';
import type { LocatedFlow, Protocol } from '../../src/flows/record.js';
import { synthesize, type SynthesisResult } from '../../src/policy/synthesize/index.js';
import { learnFromFlows } from '../../src/policy/learn.js';
import { renderPolicies } from '../../src/policy/render.js';
import { reportOutcome } from '../../src/cli/shared/learn-report.js';
import * as f from './support/synth-factory.js';

type Rule = { to?: Record<string, unknown>[]; from?: Record<string, unknown>[]; ports?: { protocol: string; port: number }[] };

const DNS_PEER = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
  podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
};
const BOTH_53 = [
  { protocol: 'TCP', port: 53 },
  { protocol: 'UDP', port: 53 },
];

const app = f.deployment('app', { labels: { app: 'app' }, pods: [{ ip: '10.0.1.1' }] });
const appPod = `default/${app.pods[0]!.metadata!.name}`;
const coredns = f.deployment('coredns', { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, pods: [{ ip: '10.0.0.10' }] });
const kubeDns = f.service('kube-dns', {
  namespace: 'kube-system',
  selector: { 'k8s-app': 'kube-dns' },
  clusterIP: '10.96.0.10',
  ports: [
    { name: 'dns', port: 53, protocol: 'UDP' },
    { name: 'dns-tcp', port: 53, protocol: 'TCP' },
  ],
});
const index = f.cluster(app, coredns, { services: [kubeDns] });

/** A flow recorded by a learn that observed `observed` (null: no mark, as in an older recording). */
function rec(src: string, dst: string, port: number, proto: Protocol = 'TCP', observed: Protocol[] | null = ['TCP', 'UDP']): LocatedFlow {
  const fl = f.flow(src, dst, port, proto);
  if (observed) fl.observed = observed;
  return fl;
}

function policy(result: SynthesisResult, path = 'default/app.yaml'): V1NetworkPolicy {
  const p = result.policies.find((g) => g.path === path);
  if (!p) throw new Error(`no ${path}`);
  return p.policy;
}
const egress = (p: V1NetworkPolicy) => (p.spec?.egress ?? []) as Rule[];

describe('DNS learned from observed UDP', () => {
  it('allows only the lookups seen (UDP 53 to the DNS pods, not TCP 53) and annotates the policy', () => {
    const result = synthesize(f.edges(index, [rec(appPod, '10.96.0.10', 53, 'UDP'), rec(appPod, '203.0.113.10', 443)]), index, {});
    const p = policy(result);
    expect(egress(p)).toEqual([
      { to: [DNS_PEER], ports: [{ protocol: 'UDP', port: 53 }] },
      { to: [{ ipBlock: { cidr: '203.0.113.10/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
    expect(p.metadata?.annotations).toEqual({ 'netpol.io/dns': 'observed', 'netpol.io/workload': 'Deployment/app' });
    expect(result.dns).toEqual({ observed: ['default/app'], notObserved: [], assumed: [], target: 'kube-system/k8s-app=kube-dns' });
  });

  it('allows TCP 53 too when a lookup over TCP was seen', () => {
    const result = synthesize(f.edges(index, [rec(appPod, '10.96.0.10', 53, 'UDP'), rec(appPod, '10.96.0.10', 53, 'TCP')]), index, {});
    expect(egress(policy(result))).toEqual([{ to: [DNS_PEER], ports: BOTH_53 }]);
  });

  it('leaves DNS out when UDP was observed and no lookup was, and says so', async () => {
    const result = synthesize(f.edges(index, [rec(appPod, '203.0.113.10', 443)]), index, {});
    const p = policy(result);
    expect(JSON.stringify(p.spec)).not.toContain('53');
    expect(p.metadata?.annotations?.['netpol.io/dns']).toBe('not-observed');
    expect(result.dns?.notObserved).toEqual(['default/app']);
    const outcome = await learnFromFlows([rec(appPod, '203.0.113.10', 443)], index, {});
    expect(reportOutcome(outcome)).toContain('warning: dns: no DNS egress for 1 policy (UDP was observed and no lookup to kube-system/k8s-app=kube-dns was seen');
  });

  it('learns observed lookups even with dns: false (observed traffic is not the assumed rule)', () => {
    const result = synthesize(f.edges(index, [rec(appPod, '10.96.0.10', 53, 'UDP')]), index, { dns: false });
    expect(egress(policy(result))).toEqual([{ to: [DNS_PEER], ports: [{ protocol: 'UDP', port: 53 }] }]);
  });

  it('learns UDP to an outside host as a UDP rule on its /32', () => {
    const result = synthesize(f.edges(index, [rec(appPod, '198.51.100.20', 5353, 'UDP'), rec(appPod, '10.96.0.10', 53, 'UDP')]), index, {});
    expect(egress(policy(result))).toContainEqual({ to: [{ ipBlock: { cidr: '198.51.100.20/32' } }], ports: [{ protocol: 'UDP', port: 5353 }] });
  });
});

describe('DNS assumed when UDP was not observed', () => {
  it('keeps the assumed rule for a recording without the mark (older, or --proto tcp), without annotation, and says so', async () => {
    const flows = [rec(appPod, '203.0.113.10', 443, 'TCP', null)];
    const result = synthesize(f.edges(index, flows), index, {});
    const p = policy(result);
    expect(egress(p)).toContainEqual({ to: [DNS_PEER], ports: BOTH_53 });
    expect(p.metadata?.annotations).toEqual({ 'netpol.io/workload': 'Deployment/app' });
    expect(result.dns?.assumed).toEqual(['default/app']);
    const outcome = await learnFromFlows(flows, index, {});
    expect(reportOutcome(outcome)).toContain('dns: assumed for 1 policy (their flows were recorded without observing UDP): egress to kube-system/k8s-app=kube-dns on UDP and TCP 53 added: default/app');
  });

  it('treats an explicit TCP-only mark like no mark', () => {
    const result = synthesize(f.edges(index, [rec(appPod, '203.0.113.10', 443, 'TCP', ['TCP'])]), index, {});
    expect(egress(policy(result))).toContainEqual({ to: [DNS_PEER], ports: BOTH_53 });
  });

  it('assumes DNS when one of the workload\'s flows was recorded without UDP (sessions mixed)', () => {
    const result = synthesize(f.edges(index, [rec(appPod, '203.0.113.10', 443), rec(appPod, '203.0.113.11', 443, 'TCP', ['TCP'])]), index, {});
    expect(egress(policy(result))).toContainEqual({ to: [DNS_PEER], ports: BOTH_53 });
    expect(result.dns?.assumed).toEqual(['default/app']);
  });

  it('assumes DNS for a workload seen only as a destination (its own sends were not seen)', () => {
    const web = f.deployment('web', { labels: { app: 'web' }, pods: [{ ip: '10.0.1.5' }] });
    const idx = f.cluster(app, web, coredns, { services: [kubeDns] });
    const result = synthesize(f.edges(idx, [rec(appPod, '10.0.1.5', 80), rec(appPod, '10.96.0.10', 53, 'UDP')]), idx, {});
    expect(egress(policy(result, 'default/web.yaml'))).toEqual([{ to: [DNS_PEER], ports: BOTH_53 }]);
    expect(result.dns).toMatchObject({ observed: ['default/app'], assumed: ['default/web'] });
  });

  it('with learnDnsWorkload, the DNS pods accept the assumed lookups of unobserved workloads and the observed ones of observed workloads, nothing more', () => {
    const other = f.deployment('other', { namespace: 'team', labels: { app: 'other' }, pods: [{ ip: '10.0.5.1' }] });
    const idx = f.cluster(app, other, coredns, { services: [kubeDns] });
    const result = synthesize(
      f.edges(idx, [rec(appPod, '10.96.0.10', 53, 'UDP'), rec(`team/${other.pods[0]!.metadata!.name}`, '203.0.113.10', 443, 'TCP', null)]),
      idx,
      { learnDnsWorkload: true },
    );
    const dns = policy(result, 'kube-system/coredns.yaml');
    // coredns itself sent nothing that was recorded: its own lookups are assumed too, as before.
    expect((dns.spec?.ingress ?? []) as Rule[]).toEqual([
      {
        from: [
          { podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'team' } }, podSelector: { matchLabels: { app: 'other' } } },
        ],
        ports: BOTH_53,
      },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } }, podSelector: { matchLabels: { app: 'app' } } }], ports: [{ protocol: 'UDP', port: 53 }] },
    ]);
  });
});

describe('rendering', () => {
  it('renders the observed DNS annotation deterministically, whatever the flow order', () => {
    const flows = [rec(appPod, '10.96.0.10', 53, 'UDP'), rec(appPod, '198.51.100.20', 5353, 'UDP'), rec(appPod, '203.0.113.10', 443)];
    const a = renderPolicies(synthesize(f.edges(index, flows), index, {}).policies.map((p) => p.policy));
    const b = renderPolicies(synthesize(f.edges(index, [...flows].reverse()), index, {}).policies.map((p) => p.policy));
    expect(a).toBe(b);
    expect(a).toContain('netpol.io/dns: observed');
  });
});
