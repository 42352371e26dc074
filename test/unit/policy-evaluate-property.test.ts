// The compiled, cached evaluator (src/policy/evaluate.ts) against a naive reference written straight
// from the NetworkPolicy API documentation, on random clusters, policies and traffic. The reference
// shares no code with the evaluator (no selector compiler, no CIDR compiler, no caches).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { V1LabelSelector } from '@kubernetes/client-node';
import { buildIndex } from '../../src/cluster/lookup.js';
import type { V1NetworkPolicy, V1Pod } from '../../src/cluster/objects.js';
import type { Protocol } from '../../src/flows/record.js';
import { compilePolicies, evaluate } from '../../src/policy/evaluate.js';
import { podEndpoint, type Endpoint, type Traffic } from '../../src/policy/traffic.js';
import { verdictClassifier } from '../../src/policy/verdict-class.js';
import type { GateResult } from '../../src/policy/verdict.js';
import { makeCluster, makeNamespace, makePod, makePolicy, type PeerInput, type RuleInput } from './support/cluster-factory.js';

// ---- the reference -----------------------------------------------------------------------------

type Labels = Record<string, string>;

function refSelects(sel: V1LabelSelector | undefined, labels: Labels): boolean {
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) if (!(k in labels) || labels[k] !== v) return false;
  for (const e of sel?.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const inValues = has && (e.values ?? []).includes(labels[e.key]!);
    const ok = e.operator === 'In' ? inValues : e.operator === 'NotIn' ? !inValues : e.operator === 'Exists' ? has : !has;
    if (!ok) return false;
  }
  return true;
}

function v4Bits(ip: string): string | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  return parts.map((p) => Number(p).toString(2).padStart(8, '0')).join('');
}

function v6Bits(ip: string): string | undefined {
  if (!ip.includes(':')) return undefined;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
}

function refInCidr(cidr: string, ip: string): boolean {
  const [addr, len] = cidr.split('/') as [string, string];
  const a = v4Bits(addr) ?? v6Bits(addr);
  const b = v4Bits(addr) !== undefined ? v4Bits(ip) : v6Bits(ip);
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  return a.slice(0, Number(len)) === b.slice(0, Number(len));
}

const governed = (e: Endpoint) => e.kind === 'pod' && !e.pod.spec?.hostNetwork;

function refPeer(peer: PeerInput, other: Endpoint, policyNs: string): boolean {
  if (peer.ipBlock) {
    const ip = other.ip;
    return !!ip && refInCidr(peer.ipBlock.cidr, ip) && !(peer.ipBlock.except ?? []).some((e) => refInCidr(e, ip));
  }
  if (!governed(other) || other.kind !== 'pod') return false;
  const nsOk = peer.namespaceSelector ? refSelects(peer.namespaceSelector, other.namespaceLabels) : other.namespace === policyNs;
  return nsOk && refSelects(peer.podSelector, other.labels);
}

function refPort(p: NonNullable<RuleInput['ports']>[number], t: Traffic): boolean {
  if ((p.protocol ?? 'TCP') !== t.proto) return false;
  if (p.port === undefined) return true;
  if (typeof p.port === 'number') return t.port >= p.port && t.port <= (p.endPort ?? p.port);
  if (t.dst.kind !== 'pod') return false;
  const containers = [...(t.dst.pod.spec?.containers ?? []), ...(t.dst.pod.spec?.initContainers ?? [])];
  const found = containers.flatMap((c) => c.ports ?? []).find((cp) => cp.name === p.port && (cp.protocol ?? 'TCP') === t.proto);
  return found?.containerPort === t.port;
}

function refGate(policies: V1NetworkPolicy[], direction: 'egress' | 'ingress', t: Traffic): string {
  const self = direction === 'egress' ? t.src : t.dst;
  const other = direction === 'egress' ? t.dst : t.src;
  if (!governed(self) || self.kind !== 'pod') return 'n/a';
  // "A pod cannot block access to itself"; "traffic to and from the node where a Pod is running is
  // always allowed" (the node's address, or a host-network pod on that node).
  if (other.kind === 'pod' && other.namespace === self.namespace && other.name === self.name) return 'n/a';
  const otherNode = other.kind === 'external' ? other.node : other.pod.spec?.hostNetwork ? other.pod.spec.nodeName : undefined;
  if (otherNode !== undefined && otherNode === self.pod.spec?.nodeName) return 'n/a';
  const isolating = policies.filter((p) => {
    const ns = p.metadata?.namespace ?? 'default';
    if (ns !== self.namespace || !refSelects(p.spec?.podSelector, self.labels)) return false;
    const types = p.spec?.policyTypes?.length ? p.spec.policyTypes : ['Ingress', ...((p.spec?.egress ?? []).length > 0 ? ['Egress'] : [])];
    return types.includes(direction === 'egress' ? 'Egress' : 'Ingress');
  });
  if (isolating.length === 0) return 'open';
  const allowed: string[] = [];
  for (const p of isolating) {
    const ns = p.metadata?.namespace ?? 'default';
    const rules = ((direction === 'egress' ? p.spec?.egress : p.spec?.ingress) ?? []) as RuleInput[];
    rules.forEach((r, i) => {
      const peers = direction === 'egress' ? r.to : r.from;
      const peerOk = !peers || peers.length === 0 || peers.some((peer) => refPeer(peer, other, ns));
      const portOk = !r.ports || r.ports.length === 0 || r.ports.some((port) => refPort(port, t));
      if (peerOk && portOk) allowed.push(`${ns}/${p.metadata?.name} ${direction}[${i}]`);
    });
  }
  const keys = [...new Set(isolating.map((p) => `${p.metadata?.namespace ?? 'default'}/${p.metadata?.name}`))].sort();
  return allowed.length > 0 ? `allow ${allowed.join(', ')}` : `deny ${keys.join(', ')}`;
}

function gate(g: GateResult): string {
  if (!g.applies) return 'n/a';
  if (!g.isolated) return 'open';
  if (g.allowed) return `allow ${g.allowedBy.map((r) => `${r.policy} ${r.direction}[${r.rule}]`).join(', ')}`;
  return `deny ${g.isolatedBy.join(', ')}`;
}

// ---- the random world ----------------------------------------------------------------------------

const NAMESPACES = ['a', 'b'];
const KEYS = ['app', 'tier'];
const VALUES = ['x', 'y'];
const PORTS = [53, 80, 8080, 8081, 9090];
const PROTOS: Protocol[] = ['TCP', 'UDP', 'SCTP'];
const EXTERNAL = ['1.1.1.1', '1.1.1.200', '10.0.0.9', '2001:db8::1', '2001:db8:1::1', '192.168.0.1', '192.168.0.2'];
/** Node addresses among EXTERNAL (traffic to and from a pod's own node is exempt). */
const NODE_OF: Record<string, string> = { '192.168.0.1': 'n1', '192.168.0.2': 'n2' };
const NODES = ['n1', 'n2', undefined];
const CIDRS: { cidr: string; except?: string[] }[] = [
  { cidr: '10.0.0.0/24' },
  { cidr: '10.0.0.0/24', except: ['10.0.0.0/30'] },
  { cidr: '1.1.1.0/24', except: ['1.1.1.128/25'] },
  { cidr: '0.0.0.0/0' },
  { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] },
  { cidr: '::/0' },
  { cidr: '10.0.0.5/32' },
  { cidr: '192.168.0.0/24' },
];

const labelsArb = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), { maxKeys: 2 });

const selectorArb: fc.Arbitrary<V1LabelSelector> = fc.record(
  {
    matchLabels: labelsArb,
    matchExpressions: fc.array(
      fc.oneof(
        fc.record({ key: fc.constantFrom(...KEYS), operator: fc.constantFrom('In', 'NotIn'), values: fc.uniqueArray(fc.constantFrom(...VALUES), { minLength: 1 }) }),
        fc.record({ key: fc.constantFrom(...KEYS), operator: fc.constantFrom('Exists', 'DoesNotExist') }),
      ),
      { maxLength: 2 },
    ),
  },
  { requiredKeys: [] },
);

const nsSelectorArb: fc.Arbitrary<V1LabelSelector> = fc.oneof(
  fc.constant<V1LabelSelector>({}),
  fc.constantFrom(...NAMESPACES).map((n) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } })),
  fc.constant<V1LabelSelector>({ matchExpressions: [{ key: 'env', operator: 'Exists' }] }),
);

const peerArb: fc.Arbitrary<PeerInput> = fc.oneof(
  selectorArb.map((podSelector) => ({ podSelector })),
  nsSelectorArb.map((namespaceSelector) => ({ namespaceSelector })),
  fc.tuple(nsSelectorArb, selectorArb).map(([namespaceSelector, podSelector]) => ({ namespaceSelector, podSelector })),
  fc.constantFrom(...CIDRS).map((ipBlock) => ({ ipBlock })),
);

const portArb = fc.record(
  {
    protocol: fc.constantFrom(...PROTOS),
    port: fc.oneof(fc.constantFrom(...PORTS), fc.constantFrom('http', 'dns', 'metrics')),
  },
  { requiredKeys: [] },
).chain((p) =>
  typeof p.port === 'number' ? fc.option(fc.integer({ min: p.port, max: p.port + 100 }), { nil: undefined }).map((endPort) => (endPort === undefined ? p : { ...p, endPort })) : fc.constant(p),
);

const ruleArb = (peersKey: 'from' | 'to'): fc.Arbitrary<RuleInput> =>
  fc.record(
    { [peersKey]: fc.array(peerArb, { maxLength: 3 }), ports: fc.array(portArb, { maxLength: 3 }) } as Record<'from' | 'to' | 'ports', fc.Arbitrary<never>>,
    { requiredKeys: [] },
  ) as fc.Arbitrary<RuleInput>;

const policyArb = (i: number) =>
  fc
    .record(
      {
        namespace: fc.constantFrom(...NAMESPACES),
        podSelector: selectorArb,
        policyTypes: fc.constantFrom<('Ingress' | 'Egress')[] | undefined>(undefined, [], ['Ingress'], ['Egress'], ['Ingress', 'Egress']),
        ingress: fc.option(fc.array(ruleArb('from'), { maxLength: 3 }), { nil: undefined }),
        egress: fc.option(fc.array(ruleArb('to'), { maxLength: 3 }), { nil: undefined }),
      },
      { requiredKeys: ['namespace', 'podSelector'] },
    )
    .map((p) => makePolicy({ name: `p${i}`, ...p, ...(p.policyTypes ? { policyTypes: p.policyTypes } : {}) }));

const podsArb = fc.array(fc.tuple(fc.constantFrom(...NAMESPACES), labelsArb, fc.boolean(), fc.constantFrom(...NODES)), { minLength: 1, maxLength: 6 }).map((specs) =>
  specs.map(([namespace, labels, hostNetwork, nodeName], i): V1Pod =>
    makePod({
      name: `pod${i}`,
      namespace,
      labels,
      ip: i === 5 ? '2001:db8::5' : `10.0.0.${i + 1}`,
      hostNetwork: hostNetwork && i === 4,
      ...(nodeName ? { nodeName } : {}),
      ports: i % 2 === 0 ? [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] : [{ name: 'http', containerPort: 80 }],
      sidecarPorts: i === 0 ? [{ name: 'metrics', containerPort: 9090 }] : undefined,
    }),
  ),
);

const worldArb = fc
  .tuple(podsArb, fc.integer({ min: 0, max: 5 }))
  .chain(([pods, nPolicies]) =>
    fc.tuple(
      fc.constant(pods),
      fc.tuple(...Array.from({ length: nPolicies }, (_, i) => policyArb(i))),
      fc.array(
        fc.tuple(
          fc.oneof(fc.integer({ min: 0, max: pods.length - 1 }), fc.constantFrom(...EXTERNAL)),
          fc.oneof(fc.integer({ min: 0, max: pods.length - 1 }), fc.constantFrom(...EXTERNAL)),
          fc.constantFrom(...PORTS, 8100, 8180),
          fc.constantFrom(...PROTOS),
        ),
        { minLength: 1, maxLength: 20 },
      ),
    ),
  );

/** The endpoint of a world's pod (by index) or of an address (a node's, when it is one). */
function endpointsOf(pods: V1Pod[]): (x: number | string) => Endpoint {
  const index = buildIndex(makeCluster({ namespaces: [makeNamespace('a', { env: 'prod' }), makeNamespace('b')], pods }));
  const endpoints = pods.map((p) => podEndpoint(p, index));
  return (x) => (typeof x === 'number' ? endpoints[x]! : NODE_OF[x] ? { kind: 'external', ip: x, node: NODE_OF[x] } : { kind: 'external', ip: x });
}

describe('evaluate agrees with a naive reference', () => {
  it('on random clusters, policies and traffic (verdict, isolation and every allowing rule)', () => {
    fc.assert(
      fc.property(worldArb, ([pods, policies, flows]) => {
        const at = endpointsOf(pods);
        const set = compilePolicies(policies);
        for (const [s, d, port, proto] of flows) {
          const t: Traffic = { src: at(s), dst: at(d), port, proto };
          const v = evaluate(set, t);
          const want = { egress: refGate(policies, 'egress', t), ingress: refGate(policies, 'ingress', t) };
          expect({ egress: gate(v.egress), ingress: gate(v.ingress) }).toEqual(want);
          expect(v.verdict).toBe(want.egress.startsWith('deny') || want.ingress.startsWith('deny') ? 'denied' : 'allowed');
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('verdict classes (the synthesizer\'s self-check judges one Traffic per class)', () => {
  it('give the same verdict to every Traffic of one class, on random clusters, policies and traffic', () => {
    fc.assert(
      fc.property(worldArb, ([pods, policies, flows]) => {
        const at = endpointsOf(pods);
        const set = compilePolicies(policies);
        const classOf = verdictClassifier(set);
        const seen = new Map<number, { verdict: string; t: Traffic }>();
        // Every pair of ends, so pods that differ only in name, address or node meet in one class.
        const ends = [...new Set([...pods.keys(), ...flows.flatMap(([s, d]) => [s, d])])];
        for (const [, , port, proto] of flows.slice(0, 6)) {
          for (const s of ends) {
            for (const d of ends) {
              const t: Traffic = { src: at(s), dst: at(d), port, proto };
              const verdict = evaluate(set, t).verdict;
              const id = classOf(t);
              const first = seen.get(id);
              if (first) expect({ id, verdict }).toEqual({ id, verdict: first.verdict });
              else seen.set(id, { verdict, t });
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('puts pods alike in all the evaluator reads in one class, and tells an address inside an ipBlock apart', () => {
    const mk = (name: string, ip: string, nodeName: string) => makePod({ name, namespace: 'a', labels: { app: 'x' }, ip, nodeName });
    const pods = [mk('p1', '10.0.0.1', 'n1'), mk('p2', '10.0.0.2', 'n2'), mk('p3', '10.0.0.5', 'n1'), makePod({ name: 'c', namespace: 'b', labels: { app: 'c' }, ip: '10.0.1.1' })];
    const index = buildIndex(makeCluster({ namespaces: [makeNamespace('a'), makeNamespace('b')], pods }));
    const [p1, p2, p3, c] = pods.map((p) => podEndpoint(p, index)) as [Endpoint, Endpoint, Endpoint, Endpoint];
    const set = compilePolicies([makePolicy({ name: 'p', namespace: 'b', podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.5/32' } }] }] })]);
    const classOf = verdictClassifier(set);
    const t = (src: Endpoint): Traffic => ({ src, dst: c, port: 80, proto: 'TCP' });
    expect(classOf(t(p1))).toBe(classOf(t(p2)));
    expect(classOf(t(p3))).not.toBe(classOf(t(p1)));
    expect(evaluate(set, t(p3)).verdict).toBe('allowed');
    expect(evaluate(set, t(p1)).verdict).toBe('denied');
    expect(classOf({ ...t(p1), port: 81 })).not.toBe(classOf(t(p1)));
  });
});
