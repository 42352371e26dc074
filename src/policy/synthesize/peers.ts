/**
 * The peer model: what a rule allows traffic with, before it is rendered. Pods of a workload (by
 * its canonical selector) or one address block. Every peer has a key (equal peers, equal keys) and
 * a sort key that fixes where it appears in a rule, so output never depends on input order.
 */
import { parseCidr } from '../../flows/ip.js';
import type { LabelSelector } from '../../cluster/objects.js';
import { cmp } from './compare.js';

/** A peer before rendering: pods of a workload (by selector) or one address block. */
export type Peer =
  | { kind: 'pods'; namespace: string; selector: LabelSelector; key: string; selectorText: string }
  | { kind: 'ip'; cidr: string; key: string; order?: string };

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

export function podsPeer(namespace: string, selector: LabelSelector): Peer {
  const canonical = canonicalSelector(selector);
  const selectorText = JSON.stringify(canonical);
  return { kind: 'pods', namespace, selector: canonical, key: `pods|${namespace}|${selectorText}`, selectorText };
}

export function ipPeer(cidr: string): Peer {
  return { kind: 'ip', cidr, key: `ip|${cidr}` };
}

/**
 * Sort key of a peer as seen from a policy in `ownNamespace`: pod peers first (same namespace,
 * then by namespace and selector), then ipBlocks by family and address. An ipBlock's key is cached
 * on the peer: it is the same from every namespace, and parsing it is the costly part.
 */
export function peerSortKey(peer: Peer, ownNamespace: string): string {
  if (peer.kind === 'pods') {
    return peer.namespace === ownNamespace ? `0|0|${peer.selectorText}` : `0|1|${peer.namespace}|${peer.selectorText}`;
  }
  if (peer.order === undefined) {
    const c = parseCidr(peer.cidr)!;
    peer.order = `1|${c.family}|${c.base.toString(16).padStart(32, '0')}|${String(c.prefix).padStart(3, '0')}`;
  }
  return peer.order;
}

/** How a widening report names a peer: its CIDR, or `pods <namespace>/{labels,expressions}`. */
export function describePeer(peer: Peer): string {
  if (peer.kind === 'ip') return peer.cidr;
  const labels = Object.entries(peer.selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  const exprs = (peer.selector.matchExpressions ?? []).map((e) => `${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`);
  return `pods ${peer.namespace}/{${[...labels, ...exprs].join(',')}}`;
}
