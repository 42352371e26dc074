/**
 * Rule building: a workload's observed peer → ports in one direction become sorted rules, one per
 * distinct port set, so a rule's allowed set (peers × ports) is exactly what was observed for its
 * peers (plus any widening asked for, see widen.ts). Rules are sorted by their first peer, peers
 * by peerSortKey, ports by protocol then number.
 */
import { cmp } from './compare.js';
import type { NormalizedOptions } from './options.js';
import type { PeerPorts, PeerSlot } from './peer-ports.js';
import { peerSortKey, type Peer } from './peers.js';
import { formatPort, parsePortKey, type PortSpec } from './ports.js';
import { renderPeer, renderPort, type BuiltRule } from './render.js';
import { aggregateCidrs, rangePorts, type WideningReport } from './widen.js';

/**
 * Turns peer → ports into sorted rules: optional CIDR aggregation, optional port ranges (per
 * peer), then one rule per distinct port set.
 */
export function buildRules(observed: PeerPorts, ownNamespace: string, options: NormalizedOptions, report: WideningReport): BuiltRule[] {
  let entries: PeerSlot[] = [...observed.values()];
  if (options.cidr) entries = aggregateCidrs(entries, options.cidr, report);

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
    if (options.portGap === undefined) {
      addToGroup(keys.join(','), keys, e.peer);
      continue;
    }
    const ports = rangePorts(keys, options.portGap, e.peer, report);
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
