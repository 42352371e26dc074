/**
 * Opt-in widening, each one reported: addresses merged into CIDR blocks (per port, so no address
 * gains a port it was not seen on beyond what the floor implies), and a peer's ports merged into
 * port/endPort ranges. Nothing here runs unless asked for (--aggregate-cidr, --port-ranges).
 */
import { hostCidr } from '../../flows/ip.js';
import { aggregateAddresses, type CidrAggregateOptions } from '../cidr-aggregate.js';
import { compressPorts } from '../port-ranges.js';
import { cmp } from './compare.js';
import type { PeerSlot } from './peer-ports.js';
import { addPort } from './peer-ports.js';
import { describePeer, ipPeer, peerSortKey, type Peer } from './peers.js';
import { comparePorts, formatPort, parsePortKey, PROTOCOL_BY_ORDER, type PortSpec } from './ports.js';
import type { Widening } from './types.js';

/** Receives each widening of one policy and direction. */
export type WideningReport = (w: Omit<Widening, 'policy' | 'direction'>) => void;

/**
 * The entries with their address peers replaced by aggregated blocks: the addresses seen on each
 * port are aggregated on their own, and each block gets the ports it was built for. Pod peers are
 * kept as they are (first, as before).
 */
export function aggregateCidrs(entries: PeerSlot[], cidr: CidrAggregateOptions, report: WideningReport): PeerSlot[] {
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
    for (const block of aggregateAddresses(ips, cidr)) {
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
  return [...kept, ...blocks.values()];
}

/**
 * The port specs of one peer with contiguous ports (bridging up to `gap` unobserved ones) merged
 * into ranges, sorted in rule order. `keys` are the peer's port keys, sorted.
 */
export function rangePorts(keys: number[], gap: number, peer: Peer, report: WideningReport): PortSpec[] {
  const specs = keys.map(parsePortKey);
  const ports: PortSpec[] = [];
  for (const proto of PROTOCOL_BY_ORDER) {
    const numbers = specs.filter((s) => s.proto === proto).map((s) => s.port);
    for (const range of compressPorts(numbers, gap)) {
      if (range.endPort === undefined) {
        ports.push({ proto, port: range.port });
        continue;
      }
      ports.push({ proto, port: range.port, endPort: range.endPort });
      report({
        kind: 'port-range',
        from: range.members.map((p) => `${proto}/${p}`),
        to: `${proto}/${range.port}-${range.endPort}`,
        scope: describePeer(peer),
        reason: range.added === 0 ? 'contiguous ports: no port added' : `gap ≤ ${gap}: ${range.added} unobserved port${range.added === 1 ? '' : 's'} allowed`,
      });
    }
  }
  ports.sort(comparePorts);
  return ports;
}
