/**
 * The synthesizer: resolved, deduplicated flows (edges) in, one least-privilege NetworkPolicy per
 * workload out. Pure: no I/O, no clock, and the output depends only on the set of edges, never on
 * their order, so the same recording always renders to the same bytes.
 *
 * Rules (DESIGN.md "Semantics the code must get exactly right"):
 * - One policy per workload (top owner: Deployment, StatefulSet, DaemonSet, CronJob/Job, ReplicaSet,
 *   else the bare pod), named after it, selecting its pods by the controller's selector, which the
 *   cluster index has already stripped of per-revision labels (pod-template-hash, …).
 * - Egress is judged after Service DNAT: a connect to a ClusterIP is allowed as the backing pods on
 *   the targetPort (ResolvedFlow.targets already carry them), never as the ClusterIP. A selectorless
 *   Service (the API server's `default/kubernetes`) leads to plain addresses: ipBlocks of its
 *   endpoints on the endpoint port. Anything outside the cluster is an ipBlock /32 or /128.
 * - In-cluster peers are podSelectors of the peer workload, plus a namespaceSelector on
 *   `kubernetes.io/metadata.name` when the namespace differs.
 * - Ingress on the destination workloads for what they received (see IngressMode for the default).
 * - DNS egress (UDP and TCP 53) to the cluster DNS pods unless `dns: false`: connect tracing sees
 *   TCP only, so name resolution would otherwise be cut off.
 * - Widening (CIDR aggregation, port ranges) only when asked for, and every widening is reported.
 *
 * Rules are grouped per port set: every peer reached on exactly the same ports shares one rule, so a
 * rule's allowed set (peers × ports) is exactly what was observed for those peers. Peers, ports and
 * rules are sorted: pod peers first (same namespace, then by namespace and selector), then ipBlocks
 * by address; ports by protocol (TCP, UDP, SCTP) then number.
 */
import type { ClusterIndex, Workload } from '../cluster/lookup.js';
import { hostCidr, ipFamily, parseCidr } from '../cluster/ip.js';
import type { LabelSelector, V1NetworkPolicy, V1Pod } from '../cluster/objects.js';
import { workloadKey } from '../cluster/workload.js';
import { NetpolError } from '../errors.js';
import type { Protocol } from '../flows/record.js';
import { aggregateAddresses, validateCidrAggregateOptions, type CidrAggregateOptions } from './cidr-aggregate.js';
import { compressPorts, validatePortGap } from './port-ranges.js';
import { isEmptySelector, selectorMatches } from './selector.js';
import { compilePolicies, evaluate, explainVerdict, isAllowed } from './evaluate.js';
import type { Endpoint, PodEndpoint, ResolvedFlow, Traffic } from './traffic.js';
import { formatFieldPath, networkPolicyProblems } from './validate.js';
import { verdictClassifier } from './verdict-class.js';
import type { V1NetworkPolicyIngressRule, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';

/** An aggregated, resolved flow: what `learn` feeds the synthesizer (one per distinct connection). */
export type LearnEdge = ResolvedFlow & { count: number; firstSeen?: string; lastSeen?: string };

/**
 * Which workloads get the Ingress policy type.
 * - `observed` (default): a workload is ingress-isolated only when inbound traffic to it was
 *   observed, and then exactly those sources and ports are allowed. A workload nobody was seen
 *   connecting to keeps only `Egress` in policyTypes, so learning from a recording that missed its
 *   clients does not silently cut them off.
 * - `strict`: every learned workload gets Ingress; no observed inbound traffic means deny all inbound.
 * - `none`: egress policies only.
 * Egress is always isolated for a learned workload: the agent records every connect a pod makes,
 * so what a workload did not connect to in the recording is what least privilege denies.
 */
export type IngressMode = 'observed' | 'strict' | 'none';
export const INGRESS_MODES: readonly IngressMode[] = ['observed', 'strict', 'none'];

export interface SynthesisOptions {
  /** Default `observed`. */
  ingress?: IngressMode;
  /** Allow egress to the cluster DNS pods on UDP and TCP 53. Default true. */
  dns?: boolean;
  /** Namespace of the DNS pods. Default `kube-system`. */
  dnsNamespace?: string;
  /**
   * Selector of the DNS pods. Default: the workload selector of the pods behind the `kube-dns`
   * Service of dnsNamespace (or of its pods labelled `k8s-app: kube-dns`) when the cluster view has
   * them, else `k8s-app: kube-dns`.
   */
  dnsSelector?: LabelSelector;
  /** Which workloads get a policy (the CLI's -n/-A/-l). Default: every pod workload seen in an edge. */
  scope?: (pod: V1Pod, workload: Workload) => boolean;
  /** Opt-in: aggregate ipBlocks (exact cover, then the floors given). `true` = exact cover only. */
  aggregateCidr?: boolean | CidrAggregateOptions;
  /** Opt-in: contiguous ports become port/endPort ranges; `gap` missing ports may be bridged. */
  portRanges?: boolean | { gap?: number };
  /** Read by the learn pipeline (src/policy/learn.ts): also learn connects nobody answered. */
  includeFailed?: boolean;
  /** Learn a policy for the cluster DNS workload too (default: left out, with a warning). */
  learnDnsWorkload?: boolean;
}

export interface GeneratedPolicy {
  workload: Workload;
  policy: V1NetworkPolicy;
  /** Where it goes in a policy tree: `<namespace>/<policy name>.yaml`. */
  path: string;
}

/** One opt-in widening: what became what, and why. */
export interface Widening {
  /** `namespace/name` of the policy. */
  policy: string;
  direction: 'egress' | 'ingress';
  kind: 'cidr' | 'port-range';
  /** What was observed: host CIDRs for `cidr`, `PROTO/port` for `port-range`. */
  from: string[];
  /** What is allowed now: a CIDR, or `PROTO/port-endPort`. */
  to: string;
  /** The peer (port ranges) or the ports (CIDRs) the widening applies to. */
  scope: string;
  reason: string;
}

export interface SynthesisResult {
  /** Sorted by path. */
  policies: GeneratedPolicy[];
  widened: Widening[];
  /** Everything skipped or approximated, with the number of flows concerned; never dropped silently. */
  warnings: string[];
}

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'netpol';
/** Annotation naming the workload a generated policy is for, e.g. `Deployment/web`. */
export const WORKLOAD_ANNOTATION = 'netpol.io/workload';
export const DEFAULT_DNS_NAMESPACE = 'kube-system';
export const DEFAULT_DNS_SELECTOR: LabelSelector = { matchLabels: { 'k8s-app': 'kube-dns' } };
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** A peer before rendering: pods of a workload (by selector) or one address block. */
type Peer =
  | { kind: 'pods'; namespace: string; selector: LabelSelector; key: string; selectorText: string }
  | { kind: 'ip'; cidr: string; key: string; order?: string };

interface PortSpec {
  proto: Protocol;
  port: number;
  endPort?: number;
}

/** Peer (interned: one object per key) → observed ports (see portKey). */
type PeerPorts = Map<Peer, PeerSlot>;

/**
 * The ports seen with one peer. Nearly always one or two, so a plain array (a Set per peer costs far
 * more memory and GC on large recordings); a Set takes over when a peer collects many (a scan).
 */
interface PeerSlot {
  peer: Peer;
  ports: number[];
  many?: Set<number>;
}

function addPort(slot: PeerSlot, key: number): void {
  if (slot.many) {
    if (!slot.many.has(key)) {
      slot.many.add(key);
      slot.ports.push(key);
    }
    return;
  }
  if (slot.ports.includes(key)) return;
  slot.ports.push(key);
  if (slot.ports.length > 16) slot.many = new Set(slot.ports);
}

interface LearnedWorkload {
  workload: Workload;
  key: string;
  egress: PeerPorts;
  ingress: PeerPorts;
  inbound: boolean;
  /** Seen connecting out: a workload seen only as a destination may just not have been traced. */
  outbound: boolean;
}

const PROTOCOL_ORDER: Record<string, number> = { TCP: 0, UDP: 1, SCTP: 2 };

const PROTOCOL_BY_ORDER: Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** A protocol and port as one number (protocol order × 65536 + port): cheap to hash and to sort. */
function portKey(proto: string, port: number): number {
  return (PROTOCOL_ORDER[proto] ?? 0) * 65536 + port;
}

function parsePortKey(key: number): { proto: Protocol; port: number } {
  return { proto: PROTOCOL_BY_ORDER[Math.floor(key / 65536)]!, port: key % 65536 };
}

/** A selector with sorted keys and values: equal selectors get equal keys and render identically. */
export function canonicalSelector(selector: LabelSelector): LabelSelector {
  const out: LabelSelector = {};
  const labels = selector.matchLabels ?? {};
  const keys = Object.keys(labels).sort();
  if (keys.length > 0) out.matchLabels = Object.fromEntries(keys.map((k) => [k, labels[k]!]));
  const exprs = (selector.matchExpressions ?? []).map((e) => {
    const req: { key: string; operator: string; values?: string[] } = { key: e.key, operator: e.operator };
    if (e.values && e.values.length > 0) req.values = [...new Set(e.values)].sort();
    return req;
  });
  exprs.sort((a, b) => cmp(JSON.stringify(a), JSON.stringify(b)));
  if (exprs.length > 0) out.matchExpressions = exprs;
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function podsPeer(namespace: string, selector: LabelSelector): Peer {
  const canonical = canonicalSelector(selector);
  const selectorText = JSON.stringify(canonical);
  return { kind: 'pods', namespace, selector: canonical, key: `pods|${namespace}|${selectorText}`, selectorText };
}

function ipPeer(cidr: string): Peer {
  return { kind: 'ip', cidr, key: `ip|${cidr}` };
}

/** Sort key of a peer as seen from a policy in `ownNamespace`. */
function peerSortKey(peer: Peer, ownNamespace: string): string {
  if (peer.kind === 'pods') {
    return peer.namespace === ownNamespace ? `0|0|${peer.selectorText}` : `0|1|${peer.namespace}|${peer.selectorText}`;
  }
  if (peer.order === undefined) {
    const c = parseCidr(peer.cidr)!;
    peer.order = `1|${c.family}|${c.base.toString(16).padStart(32, '0')}|${String(c.prefix).padStart(3, '0')}`;
  }
  return peer.order;
}

function comparePorts(a: PortSpec, b: PortSpec): number {
  return (PROTOCOL_ORDER[a.proto] ?? 9) - (PROTOCOL_ORDER[b.proto] ?? 9) || a.port - b.port || (a.endPort ?? a.port) - (b.endPort ?? b.port);
}

function formatPort(p: PortSpec): string {
  return p.endPort === undefined ? `${p.proto}/${p.port}` : `${p.proto}/${p.port}-${p.endPort}`;
}

/** DNS-1123 subdomain spelling of a name (workload names already are; this is a guard). */
export function policyNameFor(name: string): string {
  let out = name.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/\.{2,}/g, '.');
  out = out.replace(/^[^a-z0-9]+/, '').slice(0, 253).replace(/[^a-z0-9]+$/, '');
  return out === '' ? 'workload' : out;
}

/** Collects warnings by message so a million skipped flows make one line with a count. */
class WarningLog {
  private readonly byMessage = new Map<string, number>();
  add(message: string, flows = 0): void {
    this.byMessage.set(message, (this.byMessage.get(message) ?? 0) + flows);
  }
  list(): string[] {
    return [...this.byMessage.entries()]
      .sort(([a], [b]) => cmp(a, b))
      .map(([m, n]) => (n > 0 ? `${m} (${n} flow${n === 1 ? '' : 's'})` : m));
  }
}

function workloadLabel(w: Workload): string {
  return `${w.kind} ${w.namespace}/${w.name}`;
}

interface DnsTarget {
  namespace: string;
  selector: LabelSelector;
}

/**
 * Where the cluster DNS pods are: the explicit option, else the workload selector of the pods the
 * `kube-dns` Service of the DNS namespace selects (a CoreDNS Deployment labelled differently is
 * found that way), else its pods labelled like the default, else the default `k8s-app: kube-dns`.
 */
export function resolveDnsTarget(index: ClusterIndex, options: SynthesisOptions): DnsTarget {
  const namespace = options.dnsNamespace ?? DEFAULT_DNS_NAMESPACE;
  if (options.dnsSelector) return { namespace, selector: canonicalSelector(options.dnsSelector) };
  const podsInNs = index.objects.pods
    .filter((p) => (p.metadata?.namespace ?? 'default') === namespace)
    .sort((a, b) => cmp(a.metadata?.name ?? '', b.metadata?.name ?? ''));
  const svcSelector = index.service(namespace, 'kube-dns')?.spec?.selector;
  const candidates: V1Pod[] = [];
  if (svcSelector && Object.keys(svcSelector).length > 0) {
    candidates.push(...podsInNs.filter((p) => selectorMatches({ matchLabels: svcSelector }, p.metadata?.labels ?? {})));
  }
  if (candidates.length === 0) {
    candidates.push(...podsInNs.filter((p) => selectorMatches(DEFAULT_DNS_SELECTOR, p.metadata?.labels ?? {})));
  }
  for (const pod of candidates) {
    const selector = index.workloadOf(pod).selector;
    if (!isEmptySelector(selector)) return { namespace, selector: canonicalSelector(selector) };
  }
  return { namespace, selector: canonicalSelector(DEFAULT_DNS_SELECTOR) };
}

function normalizeOptions(options: SynthesisOptions) {
  const ingress = options.ingress ?? 'observed';
  if (!INGRESS_MODES.includes(ingress)) {
    throw new NetpolError(`--ingress must be one of ${INGRESS_MODES.join(', ')}, got ${JSON.stringify(ingress)}`);
  }
  let cidr: CidrAggregateOptions | undefined;
  if (options.aggregateCidr) {
    cidr = options.aggregateCidr === true ? {} : options.aggregateCidr;
    validateCidrAggregateOptions(cidr);
  }
  let portGap: number | undefined;
  if (options.portRanges) {
    portGap = options.portRanges === true ? 0 : options.portRanges.gap ?? 0;
    validatePortGap(portGap);
  }
  return { ingress, dns: options.dns ?? true, cidr, portGap };
}

/** Learns one NetworkPolicy per in-scope workload from the edges; see the module comment. */
export function synthesize(edges: LearnEdge[], index: ClusterIndex, options: SynthesisOptions = {}): SynthesisResult {
  const opts = normalizeOptions(options);
  const warnings = new WarningLog();
  const learned = new Map<string, LearnedWorkload>();
  // Per pod object: its learned entry, or null when it gets no policy (edges repeat pods a lot).
  const learnedByPod = new WeakMap<V1Pod, LearnedWorkload | null>();
  const noted = new Set<string>();

  const noteOnce = (key: string, message: string) => {
    if (noted.has(key)) return;
    noted.add(key);
    warnings.add(message);
  };

  /** The learned entry of a pod's workload, or undefined when it gets no policy. */
  const learnedFor = (ep: PodEndpoint): LearnedWorkload | undefined => {
    const cached = learnedByPod.get(ep.pod);
    if (cached !== undefined) return cached ?? undefined;
    const entry = learnedEntry(ep);
    learnedByPod.set(ep.pod, entry ?? null);
    return entry;
  };
  const learnedEntry = (ep: PodEndpoint): LearnedWorkload | undefined => {
    if (options.scope && !options.scope(ep.pod, ep.workload)) return undefined;
    const w = ep.workload;
    const key = workloadKey(w);
    if (ep.pod.spec?.hostNetwork) {
      noteOnce(`host:${key}`, `${workloadLabel(w)} runs in the host network; NetworkPolicy does not apply to it, no policy generated`);
      return undefined;
    }
    let entry = learned.get(key);
    if (!entry) {
      entry = { workload: w, key, egress: new Map(), ingress: new Map(), inbound: false, outbound: false };
      learned.set(key, entry);
    }
    return entry;
  };

  // One Peer object per key, so rule maps can be keyed by object identity.
  const interned = new Map<string, Peer>();
  const intern = (peer: Peer): Peer => {
    const known = interned.get(peer.key);
    if (known) return known;
    interned.set(peer.key, peer);
    return peer;
  };

  // Peers are built once per workload and per address: edges repeat them many times.
  const workloadPeers = new Map<Workload, Peer>();
  const addressPeers = new Map<string, Peer>();
  const addressPeer = (ip: string): Peer => {
    let peer = addressPeers.get(ip);
    if (!peer) {
      peer = intern(ipPeer(hostCidr(ip)));
      addressPeers.set(ip, peer);
    }
    return peer;
  };

  /** How `ep` appears as a peer in a rule; undefined (with a warning) when it cannot be named. */
  const peerOf = (ep: Endpoint): Peer | undefined => {
    if (ep.kind === 'external') return addressPeer(ep.ip);
    const w = ep.workload;
    const known = workloadPeers.get(w);
    if (known) return known;
    if (ep.pod.spec?.hostNetwork || isEmptySelector(w.selector)) {
      const why = ep.pod.spec?.hostNetwork
        ? 'runs in the host network (its traffic carries the node address)'
        : 'has no stable labels to select it by (a podSelector {} would select the whole namespace)';
      if (ep.ip && ipFamily(ep.ip) !== 0) {
        noteOnce(`peer:${workloadKey(w)}`, `${workloadLabel(w)} ${why}; allowed as a peer by its address ${hostCidr(ep.ip)} instead`);
        return addressPeer(ep.ip);
      }
      noteOnce(`peer:${workloadKey(w)}`, `${workloadLabel(w)} ${why} and has no address; traffic with it is not allowed`);
      return undefined;
    }
    const peer = intern(podsPeer(w.namespace, w.selector));
    workloadPeers.set(w, peer);
    return peer;
  };

  const add = (map: PeerPorts, peer: Peer, proto: string, port: number) => {
    let slot = map.get(peer);
    if (!slot) {
      slot = { peer, ports: [] };
      map.set(peer, slot);
    }
    addPort(slot, portKey(proto, port));
  };

  // Traffic that became rules, to be checked against the learned set at the end (parallel arrays:
  // one small object per checked Traffic was a measurable share of GC on large learns).
  const verifyTraffic: Traffic[] = [];
  const verifyCount: number[] = [];
  for (const edge of edges) {
    if (edge.problem !== undefined || edge.targets.length === 0) {
      // The source was still seen: it is learned (its egress isolated), only this flow is not allowed.
      if (edge.src.kind === 'pod') {
        const owner = learnedFor(edge.src);
        if (owner) owner.outbound = true;
      }
      warnings.add(`skipped: ${edge.problem ?? 'flow resolved to nothing to judge'}`, edge.count);
      continue;
    }
    for (const t of edge.targets) {
      if (t.port < 1 || t.port > 65535) {
        warnings.add(`skipped: flows to port ${t.port} (a NetworkPolicy port must be 1-65535)`, edge.count);
        continue;
      }
      if (t.src.kind === 'external' && t.dst.kind === 'external') {
        warnings.add('skipped: flows with no pod on either side (nothing a NetworkPolicy selects)', edge.count);
        continue;
      }
      let named = true;
      if (t.src.kind === 'pod') {
        const owner = learnedFor(t.src);
        if (owner) owner.outbound = true;
        const peer = owner ? peerOf(t.dst) : undefined;
        if (owner && peer) add(owner.egress, peer, t.proto, t.port);
        else if (owner) {
          named = false;
          warnings.add(`not allowed: egress of ${workloadLabel(owner.workload)} to a peer that cannot be named`, edge.count);
        }
      }
      if (t.dst.kind === 'pod') {
        const owner = learnedFor(t.dst);
        if (owner) owner.inbound = true;
        const peer = owner ? peerOf(t.src) : undefined;
        if (owner && peer) add(owner.ingress, peer, t.proto, t.port);
        else if (owner) {
          named = false;
          warnings.add(`not allowed: ingress of ${workloadLabel(owner.workload)} from a peer that cannot be named`, edge.count);
        }
      }
      if (named) {
        verifyTraffic.push(t);
        verifyCount.push(edge.count);
      }
    }
  }

  // The cluster DNS serves every pod and node, mostly over UDP, which connect tracing never sees:
  // a policy learned for it would cut off every client that was not recorded, and its own upstream
  // resolvers. It is learned only when asked for by name.
  const dnsTarget = resolveDnsTarget(index, options);
  const isDnsWorkload = (l: LearnedWorkload): boolean =>
    l.workload.namespace === dnsTarget.namespace &&
    index.podsOfWorkload(l.workload).some((p) => selectorMatches(dnsTarget.selector, p.metadata?.labels ?? {}));

  // Workloads that cannot be selected safely get no policy at all.
  const selectable = [...learned.values()]
    .filter((l) => {
      if (!options.learnDnsWorkload && isDnsWorkload(l)) {
        warnings.add(
          `no policy for ${workloadLabel(l.workload)}: it is the cluster DNS, whose clients (mostly UDP) connect tracing does not see; a learned policy would cut them off. --learn-dns-workload learns it anyway`,
        );
        return false;
      }
      if (!isEmptySelector(l.workload.selector)) return true;
      warnings.add(
        `no policy for ${workloadLabel(l.workload)}: it has no stable labels to select it by, and a podSelector {} would select every pod in namespace ${l.workload.namespace}; label its pods and learn again`,
      );
      return false;
    })
    .sort((a, b) => cmp(a.key, b.key));

  warnOverlaps(selectable, index, warnings);

  // Egress is isolated for every learned workload (least privilege: what was not seen is denied).
  // That is only right if the workload's pods were traced; say so where nothing outbound was seen.
  for (const l of selectable) {
    if (!l.outbound) {
      warnings.add(
        `${workloadLabel(l.workload)} was seen only as a destination: its policy allows no egress${opts.dns ? ' but DNS' : ''}; if the recording did not trace its pods, leave it out of scope (-l/-n)`,
      );
    }
  }

  const hasIngress = (l: LearnedWorkload) => opts.ingress === 'strict' || (opts.ingress === 'observed' && l.inbound);

  if (opts.dns) {
    const dns = dnsTarget;
    const dnsPeer = intern(podsPeer(dns.namespace, dns.selector));
    for (const l of selectable) {
      add(l.egress, dnsPeer, 'UDP', 53);
      add(l.egress, dnsPeer, 'TCP', 53);
    }
    // The DNS egress above was not observed (tracing sees TCP connects only); when the DNS workload
    // itself is learned and ingress-isolated, it must accept it from every learned workload.
    for (const target of selectable) {
      if (target.workload.namespace !== dns.namespace || !hasIngress(target)) continue;
      const pods = index.podsOfWorkload(target.workload);
      if (!pods.some((p) => selectorMatches(dns.selector, p.metadata?.labels ?? {}))) continue;
      for (const l of selectable) {
        const peer = intern(podsPeer(l.workload.namespace, l.workload.selector));
        add(target.ingress, peer, 'UDP', 53);
        add(target.ingress, peer, 'TCP', 53);
      }
    }
  }

  const names = assignNames(selectable.map((l) => l.workload));
  const widened: Widening[] = [];
  const checkedPeers = new Set<string>();
  const policies: GeneratedPolicy[] = selectable.map((l) => {
    const name = names.get(l.key)!;
    const ns = l.workload.namespace;
    const policyRef = `${ns}/${name}`;
    const policyTypes: string[] = [];
    const spec: NonNullable<V1NetworkPolicy['spec']> = { podSelector: canonicalSelector(l.workload.selector) };
    if (hasIngress(l)) policyTypes.push('Ingress');
    policyTypes.push('Egress');
    spec.policyTypes = policyTypes;
    const ingressRules = hasIngress(l) ? buildRules(l.ingress, ns, opts, (w) => widened.push({ policy: policyRef, direction: 'ingress', ...w })) : [];
    // YAML-shaped `from` (client-node's model calls it `_from`; every reader here accepts both).
    if (ingressRules.length > 0) spec.ingress = ingressRules.map((r) => ({ from: r.peers, ports: r.ports }) as V1NetworkPolicyIngressRule);
    const egressRules = buildRules(l.egress, ns, opts, (w) => widened.push({ policy: policyRef, direction: 'egress', ...w }));
    if (egressRules.length > 0) spec.egress = egressRules.map((r) => ({ to: r.peers, ports: r.ports }));
    const policy: V1NetworkPolicy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: {
        name,
        namespace: ns,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
        annotations: { [WORKLOAD_ANNOTATION]: `${l.workload.kind}/${l.workload.name}` },
      },
      spec,
    };
    // Self-check: the API server must accept every object netpol writes. Labels taken from a
    // hand-written snapshot can still be invalid, so this is an error the user can act on.
    // API validation checks each peer on its own, so a peer already checked (the same rendered
    // object in an earlier policy) is left out of the view that is checked: on large learns the
    // same peers recur in hundreds of policies. On a problem, the whole policy is checked again
    // so the reported field paths are the real ones.
    const unchecked = (rules: BuiltRule[]) =>
      rules.map((r) => {
        const peers = r.peers.filter((_, i) => {
          const key = r.peerKeys[i]!;
          if (checkedPeers.has(key)) return false;
          checkedPeers.add(key);
          return true;
        });
        return { peers: peers.length > 0 ? peers : r.peers.slice(0, 1), ports: r.ports };
      });
    const view = {
      ...policy,
      spec: {
        ...spec,
        ...(spec.ingress ? { ingress: unchecked(ingressRules).map((r) => ({ from: r.peers, ports: r.ports })) } : {}),
        ...(spec.egress ? { egress: unchecked(egressRules).map((r) => ({ to: r.peers, ports: r.ports })) } : {}),
      },
    };
    if (networkPolicyProblems(view).length > 0) {
      const problems = networkPolicyProblems(policy);
      throw new NetpolError(
        `the policy learned for ${workloadLabel(l.workload)} would be rejected by the API server: ${problems
          .map((p) => `${formatFieldPath(p.path)}: ${p.detail}`)
          .join('; ')}`,
      );
    }
    return { workload: l.workload, policy, path: `${ns}/${name}.yaml` };
  });
  policies.sort((a, b) => cmp(a.path, b.path));
  // Self-check against the evaluator: every observed flow that became rules must be allowed by the
  // learned set on both gates. A miss would be a synthesizer bug: reported, never hidden.
  // Every Traffic is checked, but Traffic the evaluator provably judges alike (same verdict class,
  // see verdict-class.ts for the argument: same port and protocol, same self/own-node relations, ends
  // alike in everything the evaluator reads) shares one evaluation: a Service edge fans out to every
  // backend pod, and the backends of a workload differ only in name, address and node. A Traffic
  // found not allowed is evaluated again on its own, so each warning names its own traffic.
  const learnedSet = compilePolicies(policies.map((g) => g.policy));
  const classOf = verdictClassifier(learnedSet);
  const allowedByClass: boolean[] = [];
  for (let i = 0; i < verifyTraffic.length; i++) {
    const traffic = verifyTraffic[i]!;
    const id = classOf(traffic);
    let allowed = allowedByClass[id];
    if (allowed === undefined) {
      allowed = isAllowed(learnedSet, traffic);
      allowedByClass[id] = allowed;
    }
    if (allowed) continue;
    const verdict = evaluate(learnedSet, traffic);
    if (verdict.verdict !== 'allowed') {
      warnings.add(`internal: the learned policies do not allow this observed traffic: ${explainVerdict(traffic, verdict)}; please report it`, verifyCount[i]!);
    }
  }
  const widenedKey = (w: Widening) => [w.policy, w.direction, w.kind, w.scope, w.to, w.from.join(',')].join('\u0000');
  widened.sort((a, b) => cmp(widenedKey(a), widenedKey(b)));
  return { policies, widened, warnings: warnings.list() };
}

/**
 * A policy selects every pod its selector matches, not only its workload's. When another
 * workload's pods match too (two Deployments sharing a selector, or one selector a subset of
 * another's), those pods get the union of both policies: said, not hidden. Pods are indexed by
 * namespace and label so this stays cheap on large clusters.
 */
function warnOverlaps(learned: LearnedWorkload[], index: ClusterIndex, warnings: WarningLog): void {
  if (learned.length === 0) return;
  const byLabel = new Map<string, V1Pod[]>();
  const byNamespace = new Map<string, V1Pod[]>();
  const push = (map: Map<string, V1Pod[]>, key: string, pod: V1Pod) => {
    const list = map.get(key);
    if (list) list.push(pod);
    else map.set(key, [pod]);
  };
  // Only the (namespace, label key) pairs some learned selector asks about are indexed: the lists
  // below are the same as indexing every label of every pod, for every key that is looked up.
  const wantedKeys = new Map<string, string[]>();
  for (const l of learned) {
    const keys = Object.keys(l.workload.selector.matchLabels ?? {});
    if (keys.length === 0) continue;
    const list = wantedKeys.get(l.workload.namespace);
    if (!list) wantedKeys.set(l.workload.namespace, [...new Set(keys)]);
    else for (const k of keys) if (!list.includes(k)) list.push(k);
  }
  const hasOwn = Object.prototype.hasOwnProperty;
  for (const pod of index.objects.pods) {
    if (pod.spec?.hostNetwork) continue;
    const ns = pod.metadata?.namespace ?? 'default';
    push(byNamespace, ns, pod);
    const keys = wantedKeys.get(ns);
    if (!keys) continue;
    const labels = pod.metadata?.labels ?? {};
    for (const k of keys) {
      if (!hasOwn.call(labels, k) || !Object.prototype.propertyIsEnumerable.call(labels, k)) continue;
      push(byLabel, `${ns}\u0000${k}\u0000${labels[k]}`, pod);
    }
  }
  for (const l of learned) {
    const { namespace, selector } = l.workload;
    let candidates = byNamespace.get(namespace) ?? [];
    for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
      const list = byLabel.get(`${namespace}\u0000${k}\u0000${v}`) ?? [];
      if (list.length < candidates.length) candidates = list;
    }
    const others = new Set<string>();
    for (const pod of candidates) {
      if (!selectorMatches(selector, pod.metadata?.labels ?? {})) continue;
      const w = index.workloadOf(pod);
      if (workloadKey(w) !== l.key) others.add(`${w.kind} ${w.namespace}/${w.name}`);
    }
    if (others.size > 0) {
      warnings.add(
        `the selector of ${workloadLabel(l.workload)} also matches pods of ${[...others].sort().join(', ')}: its policy applies to them too (each such pod gets the union of the policies selecting it)`,
      );
    }
  }
}

/**
 * Policy names per namespace: the workload's name; when two workloads of different kinds share a
 * name in one namespace, each gets its kind as a suffix (`web-deployment`, `web-statefulset`), so
 * the result does not depend on which one came first.
 */
function assignNames(workloads: Workload[]): Map<string, string> {
  const byName = new Map<string, Workload[]>();
  for (const w of workloads) {
    const k = `${w.namespace}/${policyNameFor(w.name)}`;
    byName.set(k, [...(byName.get(k) ?? []), w]);
  }
  const out = new Map<string, string>();
  for (const list of byName.values()) {
    for (const w of list) {
      const base = policyNameFor(w.name);
      out.set(workloadKey(w), list.length === 1 ? base : policyNameFor(`${base.slice(0, 240)}-${w.kind}`));
    }
  }
  return out;
}

interface BuiltRule {
  peers: V1NetworkPolicyPeer[];
  /** Identity of each rendered peer (same key, same rendered object), for the self-check. */
  peerKeys: string[];
  ports: V1NetworkPolicyPort[];
}

type WideningReport = (w: Omit<Widening, 'policy' | 'direction'>) => void;

/**
 * Turns peer → ports into sorted rules: optional CIDR aggregation (per port, so no address gains a
 * port it was not seen on beyond what the floor implies), optional port ranges (per peer), then one
 * rule per distinct port set.
 */
function buildRules(
  observed: PeerPorts,
  ownNamespace: string,
  opts: ReturnType<typeof normalizeOptions>,
  report: WideningReport,
): BuiltRule[] {
  let entries: PeerSlot[] = [...observed.values()];

  if (opts.cidr) {
    const hostsByPort = new Map<number, string[]>();
    const kept = entries.filter((e) => e.peer.kind === 'pods');
    for (const e of entries) {
      if (e.peer.kind !== 'ip') continue;
      const ip = e.peer.cidr.slice(0, e.peer.cidr.lastIndexOf('/'));
      for (const p of e.ports) {
        const list = hostsByPort.get(p);
        if (list) list.push(ip);
        else hostsByPort.set(p, [ip]);
      }
    }
    const blocks = new Map<string, PeerSlot>();
    const reports = new Map<string, { from: string[]; to: string; ports: number[]; reason: string }>();
    for (const [port, ips] of hostsByPort) {
      for (const block of aggregateAddresses(ips, opts.cidr)) {
        const peer = ipPeer(block.cidr);
        const slot = blocks.get(peer.key) ?? { peer, ports: [] };
        addPort(slot, port);
        blocks.set(peer.key, slot);
        if (block.members.length < 2) continue;
        const from = block.members.map(hostCidr);
        const reason = block.exact
          ? 'exact cover: the block holds only observed addresses'
          : `floor /${block.cidr.slice(block.cidr.lastIndexOf('/') + 1)}: ${block.members.length} observed addresses in one block, ${block.added} more allowed`;
        const rk = `${block.cidr}|${from.join(',')}`;
        const r = reports.get(rk) ?? { from, to: block.cidr, ports: [], reason };
        r.ports.push(port);
        reports.set(rk, r);
      }
    }
    for (const r of [...reports.values()].sort((a, b) => cmp(peerSortKey(ipPeer(a.to), ''), peerSortKey(ipPeer(b.to), '')) || cmp(a.from.join(), b.from.join()))) {
      const ports = r.ports.map(parsePortKey).map((p) => ({ proto: p.proto, port: p.port })).sort(comparePorts).map(formatPort);
      report({ kind: 'cidr', from: r.from, to: r.to, scope: ports.join(','), reason: r.reason });
    }
    entries = [...kept, ...blocks.values()];
  }

  // Port keys sort numerically in rule order (protocol, then port), so a sorted key list is both
  // the rule's port list and, joined, the identity of its port set.
  const groups = new Map<string, { ports: number[] | PortSpec[]; peers: Peer[] }>();
  const addToGroup = (key: string, ports: number[] | PortSpec[], peer: Peer) => {
    const g = groups.get(key);
    if (g) g.peers.push(peer);
    else groups.set(key, { ports, peers: [peer] });
  };
  for (const e of entries) {
    const keys = [...e.ports].sort((a, b) => a - b);
    if (opts.portGap === undefined) {
      addToGroup(keys.join(','), keys, e.peer);
      continue;
    }
    const specs = keys.map(parsePortKey);
    const ports: PortSpec[] = [];
    for (const proto of ['TCP', 'UDP', 'SCTP'] as Protocol[]) {
      const numbers = specs.filter((s) => s.proto === proto).map((s) => s.port);
      for (const range of compressPorts(numbers, opts.portGap)) {
        if (range.endPort === undefined) {
          ports.push({ proto, port: range.port });
          continue;
        }
        ports.push({ proto, port: range.port, endPort: range.endPort });
        report({
          kind: 'port-range',
          from: range.members.map((p) => `${proto}/${p}`),
          to: `${proto}/${range.port}-${range.endPort}`,
          scope: describePeer(e.peer),
          reason: range.added === 0 ? 'contiguous ports: no port added' : `gap ≤ ${opts.portGap}: ${range.added} unobserved port${range.added === 1 ? '' : 's'} allowed`,
        });
      }
    }
    ports.sort(comparePorts);
    addToGroup(ports.map(formatPort).join(','), ports, e.peer);
  }

  const rules = [...groups.values()].map((g) => {
    const peers = g.peers
      .map((p) => ({ p, k: peerSortKey(p, ownNamespace) }))
      .sort((a, b) => cmp(a.k, b.k));
    const ports = g.ports.map((p) => renderPort(typeof p === 'number' ? parsePortKey(p) : p));
    return {
      first: peers[0]!.k,
      peers: peers.map(({ p }) => renderPeer(p, ownNamespace)),
      peerKeys: peers.map(({ p }) => (p.kind === 'pods' && p.namespace === ownNamespace ? `${p.key}|same` : p.key)),
      ports,
    };
  });
  rules.sort((a, b) => cmp(a.first, b.first));
  return rules.map(({ peers, peerKeys, ports }) => ({ peers, peerKeys, ports }));
}

function describePeer(peer: Peer): string {
  if (peer.kind === 'ip') return peer.cidr;
  const labels = Object.entries(peer.selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  const exprs = (peer.selector.matchExpressions ?? []).map((e) => `${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`);
  return `pods ${peer.namespace}/{${[...labels, ...exprs].join(',')}}`;
}

function renderPeer(peer: Peer, ownNamespace: string): V1NetworkPolicyPeer {
  if (peer.kind === 'ip') return { ipBlock: { cidr: peer.cidr } };
  const out: V1NetworkPolicyPeer = {};
  if (peer.namespace !== ownNamespace) out.namespaceSelector = { matchLabels: { [NAMESPACE_NAME_LABEL]: peer.namespace } };
  out.podSelector = cloneSelector(peer.selector);
  return out;
}

/** A copy per rule, so no two generated objects share a selector a caller might mutate. */
function cloneSelector(s: LabelSelector): LabelSelector {
  const out: LabelSelector = {};
  if (s.matchLabels) out.matchLabels = { ...s.matchLabels };
  if (s.matchExpressions) out.matchExpressions = s.matchExpressions.map((e) => (e.values ? { ...e, values: [...e.values] } : { ...e }));
  return out;
}

function renderPort(p: PortSpec): V1NetworkPolicyPort {
  const out: V1NetworkPolicyPort = { protocol: p.proto, port: p.port };
  if (p.endPort !== undefined) out.endPort = p.endPort;
  return out;
}
