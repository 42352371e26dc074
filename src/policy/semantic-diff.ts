/**
 * Semantic comparison of NetworkPolicies: two sets (say, the cluster's and the policy files') are
 * matched by namespace/name and compared by what they allow, not by how the YAML is written.
 *
 * Each policy is reduced to a normal form: its pod selector (matchLabels folded into `In`
 * requirements, values sorted), its effective policyTypes (the API default filled in), and per
 * direction the set of allowed (peer, port) pairs — the cross product of every rule's peers and
 * ports, so splitting or merging rules, reordering, duplicates, `port: 80` vs `port: "80"`-free
 * spellings and `10.0.0.1/32` vs `10.0.0.1/32 ` all compare equal. A pair that an "any peer" or
 * "any port" pair already allows is dropped, so adding a redundant rule is no change either.
 */
import { canonicalIp, formatCidr, parseCidr } from '../flows/ip.js';
import { ingressPeers, type V1LabelSelector, type V1NetworkPolicy } from '../cluster/objects.js';
import { formatSelector } from './selector.js';
import type { V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';

export type Direction = 'ingress' | 'egress';

export interface NormalPolicy {
  namespace: string;
  name: string;
  podSelector: string;
  policyTypes: Direction[];
  /** Allowed (peer, port) pairs per direction, as sorted display strings. */
  allows: Record<Direction, string[]>;
}

const ANY = '*';

/** `{}` is the empty string (everything); requirements sorted, matchLabels as `k=v`. */
export function normalSelector(selector: V1LabelSelector | undefined): string {
  if (!selector) return '';
  const expressions = [...(selector.matchExpressions ?? [])];
  const labels: Record<string, string> = { ...(selector.matchLabels ?? {}) };
  const rest = expressions.filter((e) => {
    // `key In (v)` is `key=v`.
    if (e.operator === 'In' && (e.values ?? []).length === 1 && !(e.key in labels)) {
      labels[e.key] = e.values![0]!;
      return false;
    }
    return true;
  });
  const text = formatSelector({ matchLabels: labels, matchExpressions: rest });
  return [...new Set(text === '' ? [] : splitRequirements(text))].sort().join(',');
}

/** Splits formatSelector output on top-level commas (not those inside `in (a,b)`). */
function splitRequirements(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(text.slice(start, i));
      start = i + 1;
    }
  }
  out.push(text.slice(start));
  return out;
}

function normalCidr(text: string): string {
  const parsed = parseCidr(text.trim());
  return parsed ? formatCidr(parsed) : text.trim();
}

/** A peer as text; the namespace a bare podSelector refers to is made explicit. */
export function normalPeer(peer: V1NetworkPolicyPeer, policyNamespace: string): string {
  if (peer.ipBlock) {
    const except = [...new Set((peer.ipBlock.except ?? []).map(normalCidr))].sort();
    return `ipBlock ${normalCidr(peer.ipBlock.cidr)}${except.length > 0 ? ` except ${except.join(',')}` : ''}`;
  }
  const pods = peer.podSelector ? normalSelector(peer.podSelector) : '';
  let ns = `namespace ${policyNamespace}`;
  if (peer.namespaceSelector) {
    const selector = normalSelector(peer.namespaceSelector);
    // Every namespace carries kubernetes.io/metadata.name=<its name> (API server, since 1.21):
    // selecting on exactly that label is naming one namespace.
    const named = /^kubernetes\.io\/metadata\.name=([^,]+)$/.exec(selector);
    ns = named ? `namespace ${named[1]}` : `namespaces {${selector}}`;
  }
  return `${ns} pods {${pods}}`;
}

export function normalPort(port: V1NetworkPolicyPort): string {
  const protocol = port.protocol ?? 'TCP';
  if (port.port === undefined || port.port === null) return `${protocol}/*`;
  const p = typeof port.port === 'number' || /^\d+$/.test(String(port.port)) ? Number(port.port) : String(port.port);
  if (typeof p === 'number' && port.endPort !== undefined && port.endPort !== null && port.endPort !== p) {
    return `${protocol}/${p}-${port.endPort}`;
  }
  return `${protocol}/${p}`;
}

function effectivePolicyTypes(np: V1NetworkPolicy): Direction[] {
  const given = np.spec?.policyTypes;
  if (given && given.length > 0) return [...new Set(given.map((t) => t.toLowerCase() as Direction))].sort();
  return np.spec?.egress && np.spec.egress.length > 0 ? ['egress', 'ingress'] : ['ingress'];
}

function allowedPairs(np: V1NetworkPolicy, direction: Direction): string[] {
  const namespace = np.metadata?.namespace ?? 'default';
  const rules = direction === 'ingress' ? (np.spec?.ingress ?? []) : (np.spec?.egress ?? []);
  const pairs = new Set<string>();
  for (const rule of rules) {
    const peerList = direction === 'ingress' ? ingressPeers(rule) : (rule as { to?: V1NetworkPolicyPeer[] }).to;
    const peers = peerList && peerList.length > 0 ? peerList.map((p) => normalPeer(p, namespace)) : [ANY];
    const ports = rule.ports && rule.ports.length > 0 ? rule.ports.map(normalPort) : [ANY];
    for (const peer of peers) for (const port of ports) pairs.add(`${peer}\u0000${port}`);
  }
  // Drop what a wider pair already allows.
  const reduced = [...pairs].filter((pair) => {
    const [peer, port] = pair.split('\u0000') as [string, string];
    if (peer !== ANY && (pairs.has(`${ANY}\u0000${port}`) || pairs.has(`${ANY}\u0000${ANY}`))) return false;
    if (port !== ANY && pairs.has(`${peer}\u0000${ANY}`)) return false;
    return true;
  });
  return reduced.map(displayPair).sort();
}

function displayPair(pair: string): string {
  const [peer, port] = pair.split('\u0000') as [string, string];
  return `${peer === ANY ? 'any peer' : peer} on ${port === ANY ? 'any port' : port}`;
}

export function normalizePolicy(np: V1NetworkPolicy): NormalPolicy {
  return {
    namespace: np.metadata?.namespace ?? 'default',
    name: np.metadata?.name ?? '',
    podSelector: normalSelector(np.spec?.podSelector),
    policyTypes: effectivePolicyTypes(np),
    allows: { ingress: allowedPairs(np, 'ingress'), egress: allowedPairs(np, 'egress') },
  };
}

export interface PolicyChange {
  namespace: string;
  name: string;
  /** One line per semantic difference, from `before` to `after`. */
  details: string[];
}

export interface SemanticDiff {
  /** In `after` only (e.g. in the files, not yet in the cluster). */
  added: NormalPolicy[];
  /** In `before` only (e.g. in the cluster, not in the files). */
  removed: NormalPolicy[];
  changed: PolicyChange[];
  unchanged: Array<{ namespace: string; name: string }>;
}

/** What changed in one policy, in sentences; empty when they allow the same. */
export function describeChange(before: NormalPolicy, after: NormalPolicy): string[] {
  const details: string[] = [];
  if (before.podSelector !== after.podSelector) {
    details.push(`podSelector: {${before.podSelector}} → {${after.podSelector}}`);
  }
  if (before.policyTypes.join() !== after.policyTypes.join()) {
    details.push(`policyTypes: ${before.policyTypes.join(',')} → ${after.policyTypes.join(',')}`);
  }
  for (const dir of ['egress', 'ingress'] as const) {
    const b = new Set(before.allows[dir]);
    const a = new Set(after.allows[dir]);
    for (const pair of after.allows[dir]) if (!b.has(pair)) details.push(`${dir}: + allows ${pair}`);
    for (const pair of before.allows[dir]) if (!a.has(pair)) details.push(`${dir}: - no longer allows ${pair}`);
  }
  return details;
}

const keyOf = (np: V1NetworkPolicy): string => `${np.metadata?.namespace ?? 'default'}/${np.metadata?.name ?? ''}`;

/** Compares two sets of policies; results are sorted by namespace/name. */
export function semanticDiff(before: V1NetworkPolicy[], after: V1NetworkPolicy[]): SemanticDiff {
  const b = new Map(before.map((np) => [keyOf(np), normalizePolicy(np)]));
  const a = new Map(after.map((np) => [keyOf(np), normalizePolicy(np)]));
  const out: SemanticDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const key of [...new Set([...b.keys(), ...a.keys()])].sort()) {
    const was = b.get(key);
    const now = a.get(key);
    if (!was && now) out.added.push(now);
    else if (was && !now) out.removed.push(was);
    else if (was && now) {
      const details = describeChange(was, now);
      if (details.length > 0) out.changed.push({ namespace: now.namespace, name: now.name, details });
      else out.unchanged.push({ namespace: now.namespace, name: now.name });
    }
  }
  return out;
}

/** The diff as text, kubectl-diff style headings; empty string when there is no difference. */
export function formatSemanticDiff(diff: SemanticDiff, labels = { before: 'cluster', after: 'files' }): string {
  const lines: string[] = [];
  for (const p of diff.added) {
    lines.push(`+ ${p.namespace}/${p.name} (only in ${labels.after})`);
    for (const d of describeChange(emptyLike(p), p)) lines.push(`    ${d}`);
  }
  for (const p of diff.removed) lines.push(`- ${p.namespace}/${p.name} (only in ${labels.before})`);
  for (const c of diff.changed) {
    lines.push(`~ ${c.namespace}/${c.name}`);
    for (const d of c.details) lines.push(`    ${d}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

function emptyLike(p: NormalPolicy): NormalPolicy {
  return { ...p, policyTypes: p.policyTypes, allows: { ingress: [], egress: [] } };
}

// Re-exported for callers that canonicalize addresses the same way.
export { canonicalIp };
