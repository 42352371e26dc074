/**
 * What was observed with each peer of one workload in one direction: peer → the port keys seen
 * (see ports.ts). Rules are built from these maps.
 */
import type { Peer } from './peers.js';
import { portKey } from './ports.js';

/**
 * The ports seen with one peer. Nearly always one or two, so a plain array (a Set per peer costs far
 * more memory and GC on large recordings); a Set takes over when a peer collects many (a scan).
 */
export interface PeerSlot {
  peer: Peer;
  ports: number[];
  many?: Set<number>;
}

/** Peer (interned: one object per key) → observed ports. */
export type PeerPorts = Map<Peer, PeerSlot>;

/** Adds a port key to a slot once; `ports` keeps first-seen order. */
export function addPort(slot: PeerSlot, key: number): void {
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

/** Records that traffic with `peer` on `proto`/`port` was observed (or is to be allowed, for DNS). */
export function addObserved(map: PeerPorts, peer: Peer, proto: string, port: number): void {
  let slot = map.get(peer);
  if (!slot) {
    slot = { peer, ports: [] };
    map.set(peer, slot);
  }
  addPort(slot, portKey(proto, port));
}
