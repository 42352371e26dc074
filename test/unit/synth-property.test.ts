/**
 * Property tests of the synthesizer against the evaluator: for random clusters (namespaces,
 * workloads of several kinds, Services with numeric and named targetPorts, with and without
 * EndpointSlices, look-alike pods in other namespaces) and random flows, the learned policies
 *
 * - allow every observed flow (judged after Service DNAT, on both gates), and
 * - allow nothing else: every other traffic between the cluster's pods and outside addresses — other
 *   ports, other protocols, other peers, the same labels in other namespaces — is judged exactly as
 *   an independent oracle built from the observations says (denied wherever a learned workload is
 *   isolated in that direction and did not do it).
 *
 * With widening on, observed flows stay allowed and nothing the exact policies allow is lost.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ClusterIndex } from '../../src/cluster/lookup.js';
import { canonicalIp } from '../../src/flows/ip.js';
import type { V1Pod } from '../../src/cluster/objects.js';
import { workloadKey } from '../../src/cluster/workload.js';
import type { LocatedFlow, Protocol } from '../../src/flows/record.js';
import { compilePolicies, evaluate, judge } from '../../src/policy/evaluate.js';
import { parse } from 'yaml';
import { renderPolicies, renderPolicy } from '../../src/policy/render.js';
import { synthesize, type LearnEdge, type SynthesisOptions } from '../../src/policy/synthesize/index.js';
import { podEndpoint, type Endpoint, type Traffic } from '../../src/policy/traffic.js';
import { validateNetworkPolicy } from '../../src/policy/validate.js';
import * as f from './support/synth-factory.js';

const NAMESPACES = ['alpha', 'beta', 'gamma'];
const EXTERNALS = ['192.0.2.1', '192.0.2.2', '198.51.100.7', '2001:db8::1', '2001:db8::2'];
/** An address no flow ever uses. */
const FRESH_EXTERNAL = '203.0.113.99';
const PORTS = [1000, 1001, 1002, 1003];
const PROTOS: Protocol[] = ['TCP', 'UDP'];

interface WorkloadSpec {
  ns: number;
  kind: 'Deployment' | 'StatefulSet' | 'Pod';
  pods: number;
  service?: { port: number; target: number; named: boolean; slices: boolean };
  twin: boolean;
}

interface FlowSpec {
  kind: 'pod' | 'svc' | 'ext-out' | 'ext-in' | 'dns';
  a: number;
  b: number;
  c: number;
  port: number;
  proto: Protocol;
  ext: number;
}

const workloadArb: fc.Arbitrary<WorkloadSpec> = fc
  .record({
    ns: fc.integer({ min: 0, max: 2 }),
    kind: fc.constantFrom('Deployment' as const, 'StatefulSet' as const, 'Pod' as const),
    pods: fc.integer({ min: 1, max: 3 }),
    service: fc.option(
      fc.record({ port: fc.constantFrom(80, 8080), target: fc.constantFrom(...PORTS), named: fc.boolean(), slices: fc.boolean() }),
      { nil: undefined },
    ),
    twin: fc.boolean(),
  })
  // A bare pod is its own workload: one pod each, so no two workloads share a selector.
  .map((w) => (w.kind === 'Pod' ? { ...w, pods: 1 } : w));

const flowArb: fc.Arbitrary<FlowSpec> = fc.record({
  kind: fc.constantFrom('pod' as const, 'svc' as const, 'ext-out' as const, 'ext-in' as const, 'dns' as const),
  a: fc.nat(50),
  b: fc.nat(50),
  c: fc.nat(50),
  port: fc.constantFrom(...PORTS),
  proto: fc.constantFrom(...PROTOS),
  ext: fc.nat(EXTERNALS.length - 1),
});

const scenarioArb = fc.record({
  workloads: fc.array(workloadArb, { minLength: 1, maxLength: 5 }),
  flows: fc.array(flowArb, { minLength: 1, maxLength: 16 }),
  ingress: fc.constantFrom('observed' as const, 'strict' as const),
  dns: fc.boolean(),
  /** A CoreDNS Deployment in kube-system (k8s-app=kube-dns), which the default DNS rule targets. */
  coredns: fc.boolean(),
});

interface Built {
  index: ClusterIndex;
  dnsPods: V1Pod[];
  podsByWorkload: V1Pod[][];
  twins: V1Pod[];
  flows: LocatedFlow[];
}

function build(spec: { workloads: WorkloadSpec[]; flows: FlowSpec[]; coredns: boolean }): Built {
  const parts: f.ObjectsPart[] = [];
  const dns = spec.coredns
    ? f.deployment('coredns', { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, pods: [{ ip: '10.8.0.10' }, { ip: '10.8.0.11' }] })
    : undefined;
  if (dns) parts.push(dns);
  const podsByWorkload: V1Pod[][] = [];
  const twins: V1Pod[] = [];
  const clusterIps: (string | undefined)[] = [];
  spec.workloads.forEach((w, i) => {
    const ns = NAMESPACES[w.ns]!;
    const name = `w${i}`;
    const labels = { app: name, team: 'shared' };
    const ips = Array.from({ length: w.pods }, (_, p) => `10.${w.ns}.${i}.${p + 1}`);
    const ports = w.service?.named ? [{ name: 'http', containerPort: w.service.target }] : undefined;
    let pods: V1Pod[];
    if (w.kind === 'Deployment') {
      const d = f.deployment(name, { namespace: ns, labels, pods: ips.map((ip) => ({ ip, ports })) });
      parts.push(d);
      pods = d.pods;
    } else if (w.kind === 'StatefulSet') {
      const s = f.statefulSet(name, { namespace: ns, labels, ips });
      for (const p of s.pods) p.spec!.containers[0]!.ports = ports?.map((x) => ({ ...x, protocol: 'TCP' }));
      parts.push(s);
      pods = s.pods;
    } else {
      pods = [f.pod(name, { namespace: ns, labels, ip: ips[0], ports })];
      parts.push({ pods });
    }
    podsByWorkload.push(pods);
    if (w.service) {
      const clusterIP = `10.96.0.${i + 1}`;
      clusterIps.push(clusterIP);
      parts.push({
        services: [
          f.service(name, {
            namespace: ns,
            selector: labels,
            clusterIP,
            ports: [{ name: 'web', port: w.service.port, targetPort: w.service.named ? 'http' : w.service.target }],
          }),
        ],
      });
      if (w.service.slices) {
        parts.push({
          endpointSlices: [
            f.endpointSlice(name, {
              namespace: ns,
              addresses: pods.map((p) => ({ ip: p.status!.podIP!, pod: p.metadata!.name! })),
              ports: [{ name: 'web', port: w.service.target }],
            }),
          ],
        });
      }
    } else {
      clusterIps.push(undefined);
    }
    if (w.twin) {
      // Same labels, another namespace: must never be mistaken for the workload.
      const twin = f.pod(`twin-${name}`, { namespace: NAMESPACES[(w.ns + 1) % 3]!, labels, ip: `10.9.${i}.1` });
      twins.push(twin);
      parts.push({ pods: [twin] });
    }
  });

  const index = f.cluster(...parts);
  const W = spec.workloads.length;
  const podRef = (pod: V1Pod) => `${pod.metadata!.namespace}/${pod.metadata!.name}`;
  const pick = (w: number, n: number) => podsByWorkload[w % W]![n % podsByWorkload[w % W]!.length]!;
  const flows: LocatedFlow[] = [];
  for (const fl of spec.flows) {
    if (fl.kind === 'pod') flows.push(f.flow(podRef(pick(fl.a, fl.c)), pick(fl.b, fl.c + 1).status!.podIP!, fl.port, fl.proto));
    else if (fl.kind === 'svc') {
      const ip = clusterIps[fl.b % W];
      const svc = spec.workloads[fl.b % W]!.service;
      if (ip && svc) flows.push(f.flow(podRef(pick(fl.a, fl.c)), ip, svc.port, 'TCP'));
    } else if (fl.kind === 'ext-out') flows.push(f.flow(podRef(pick(fl.a, fl.c)), EXTERNALS[fl.ext]!, fl.port, fl.proto));
    else if (fl.kind === 'dns') {
      // DNS over TCP, as connect tracing sees it.
      if (dns) flows.push(f.flow(podRef(pick(fl.a, fl.c)), dns.pods[fl.b % 2]!.status!.podIP!, 53, 'TCP'));
    } else flows.push(f.flow(EXTERNALS[fl.ext]!, pick(fl.b, fl.c).status!.podIP!, fl.port, fl.proto));
  }
  return { index, dnsPods: dns?.pods ?? [], podsByWorkload, twins, flows };
}

function endpointKey(e: Endpoint): string {
  return e.kind === 'pod' ? workloadKey(e.workload) : canonicalIp(e.ip);
}

/**
 * What least privilege allows, computed from the observations alone (no synthesizer code): the
 * observed traffic, per workload, plus DNS (UDP/TCP 53 to the kube-dns pods) from every learned
 * workload when DNS is on.
 */
function oracle(edges: LearnEdge[], options: { ingress: 'observed' | 'strict'; dns: boolean }) {
  const egress = new Set<string>();
  const ingress = new Set<string>();
  const learned = new Set<string>();
  const inbound = new Set<string>();
  // The cluster DNS workload is never learned by default (its UDP clients are not observed).
  const isDnsWorkload = (e: Endpoint) => e.kind === 'pod' && e.namespace === 'kube-system' && e.labels['k8s-app'] === 'kube-dns';
  for (const e of edges) {
    if (e.src.kind === 'pod' && !isDnsWorkload(e.src)) learned.add(endpointKey(e.src));
    for (const t of e.targets) {
      const s = endpointKey(t.src);
      const d = endpointKey(t.dst);
      const key = `${s}|${d}|${t.proto}|${t.port}`;
      if (t.src.kind === 'pod') egress.add(key);
      if (t.dst.kind === 'pod' && !isDnsWorkload(t.dst)) {
        learned.add(d);
        inbound.add(d);
        ingress.add(key);
      }
    }
  }
  const isDns = (t: Traffic) =>
    options.dns && t.port === 53 && t.dst.kind === 'pod' && t.dst.namespace === 'kube-system' && t.dst.labels['k8s-app'] === 'kube-dns';
  return (t: Traffic): boolean => {
    const s = endpointKey(t.src);
    const d = endpointKey(t.dst);
    const key = `${s}|${d}|${t.proto}|${t.port}`;
    // A pod cannot block traffic to itself: neither gate applies (src/policy/exemptions.ts).
    if (t.src.kind === 'pod' && t.dst.kind === 'pod' && t.src.namespace === t.dst.namespace && t.src.name === t.dst.name) return true;
    const egressOk = t.src.kind !== 'pod' || !learned.has(s) || egress.has(key) || isDns(t);
    const ingressIsolated = t.dst.kind === 'pod' && learned.has(d) && (options.ingress === 'strict' || inbound.has(d));
    const ingressOk = !ingressIsolated || ingress.has(key) || (isDns(t) && t.src.kind === 'pod' && learned.has(s));
    return egressOk && ingressOk;
  };
}

/** Every pair of endpoints (pods, look-alikes, outside addresses) on every test port and protocol. */
function candidates(built: Built): Traffic[] {
  const { index } = built;
  const pods: Endpoint[] = [...built.podsByWorkload.flat(), ...built.twins, ...built.dnsPods].map((p) => podEndpoint(p, index));
  const outside: Endpoint[] = [...EXTERNALS, FRESH_EXTERNAL].map((ip) => ({ kind: 'external', ip }));
  const out: Traffic[] = [];
  for (const src of [...pods, ...outside]) {
    for (const dst of [...pods, ...outside]) {
      if (src.kind === 'external' && dst.kind === 'external') continue;
      for (const proto of PROTOS) for (const port of [...PORTS, 53]) out.push({ src, dst, port, proto });
    }
  }
  return out;
}

function describeTraffic(t: Traffic): string {
  const side = (e: Endpoint) => (e.kind === 'pod' ? `${e.namespace}/${e.name}` : e.ip);
  return `${side(t.src)} -> ${side(t.dst)} ${t.proto}/${t.port}`;
}

describe('learned policies vs the evaluator (property)', () => {
  it('allow every observed flow and exactly the observed traffic', () => {
    fc.assert(
      fc.property(scenarioArb, (spec) => {
        const built = build(spec);
        const edges = f.edges(built.index, built.flows);
        const result = synthesize(edges, built.index, { ingress: spec.ingress, dns: spec.dns });
        for (const g of result.policies) {
          validateNetworkPolicy(g.policy, { file: g.path });
          // What kubectl (a YAML 1.1 reader) reads from the file is the object itself.
          expect(parse(renderPolicy(g.policy), { version: '1.1' })).toEqual(JSON.parse(JSON.stringify(g.policy)));
        }
        const set = compilePolicies(result.policies.map((g) => g.policy));
        expect(result.warnings.filter((w) => w.startsWith('internal'))).toEqual([]);

        for (const e of edges) {
          if (e.problem !== undefined) continue;
          const j = judge(set, e);
          expect(j.verdict, `${e.flow.src.namespace}/${e.flow.src.pod ?? e.flow.src.ip} -> ${e.flow.dst.ip}:${e.flow.dst.port}: ${j.reason}`).toBe('allowed');
        }

        const expected = oracle(edges, spec);
        for (const t of candidates(built)) {
          const got = evaluate(set, t).verdict === 'allowed';
          if (got !== expected(t)) {
            expect.fail(`${describeTraffic(t)}: evaluator says ${got ? 'allowed' : 'denied'}, least privilege says ${expected(t) ? 'allowed' : 'denied'}`);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('render byte-identical YAML whatever the order of the edges', () => {
    fc.assert(
      fc.property(scenarioArb, fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })), (spec, randoms) => {
        const built = build(spec);
        const edges = f.edges(built.index, built.flows);
        const options: SynthesisOptions = { ingress: spec.ingress, dns: spec.dns, aggregateCidr: { floorV4: 24, floorV6: 64 }, portRanges: { gap: 1 } };
        const once = synthesize(edges, built.index, options);
        const it = randoms[Symbol.iterator]();
        const shuffled = edges.map((e) => ({ e, k: it.next().value as number })).sort((x, y) => x.k - y.k).map((x) => x.e);
        const again = synthesize(shuffled, built.index, options);
        expect(renderPolicies(again.policies.map((g) => g.policy))).toBe(renderPolicies(once.policies.map((g) => g.policy)));
        expect(again.widened).toEqual(once.widened);
        expect(again.warnings).toEqual(once.warnings);
      }),
      { numRuns: 100 },
    );
  });

  it('with widening on, still allow every observed flow and everything the exact policies allow', () => {
    fc.assert(
      fc.property(
        scenarioArb,
        fc.record({ floorV4: fc.option(fc.integer({ min: 8, max: 32 }), { nil: undefined }), floorV6: fc.option(fc.integer({ min: 48, max: 128 }), { nil: undefined }) }),
        fc.integer({ min: 0, max: 3 }),
        (spec, floors, gap) => {
          const built = build(spec);
          const edges = f.edges(built.index, built.flows);
          const exact = compilePolicies(synthesize(edges, built.index, { ingress: spec.ingress, dns: spec.dns }).policies.map((g) => g.policy));
          const wide = synthesize(edges, built.index, { ingress: spec.ingress, dns: spec.dns, aggregateCidr: floors, portRanges: { gap } });
          for (const g of wide.policies) validateNetworkPolicy(g.policy, { file: g.path });
          expect(wide.warnings.filter((w) => w.startsWith('internal'))).toEqual([]);
          const set = compilePolicies(wide.policies.map((g) => g.policy));
          for (const e of edges) if (e.problem === undefined) expect(judge(set, e).verdict).toBe('allowed');
          for (const t of candidates(built)) {
            if (evaluate(exact, t).verdict === 'allowed' && evaluate(set, t).verdict !== 'allowed') {
              expect.fail(`widening lost ${describeTraffic(t)}`);
            }
          }
        },
      ),
      { numRuns: 80 },
    );
  });
});
