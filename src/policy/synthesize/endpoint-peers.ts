/**
 * How a traffic endpoint appears as a peer in a rule: a pod as the selector of its workload, an
 * outside address as a /32 or /128, and a pod that cannot be selected (host network, no stable
 * labels) by its address, said in a warning. Peers are interned in the state's peer table.
 */
import { hostCidr, ipFamily } from '../../flows/ip.js';
import { workloadKey } from '../../cluster/workload.js';
import type { Endpoint } from '../traffic.js';
import { isEmptySelector } from '../selector.js';
import { ipPeer, podsPeer, type Peer } from './peers.js';
import type { SynthesisState } from './state.js';
import { workloadLabel } from './warnings.js';

/** The one Peer object with this peer's key (the first one seen). */
export function intern(state: SynthesisState, peer: Peer): Peer {
  const known = state.peers.byKey.get(peer.key);
  if (known) return known;
  state.peers.byKey.set(peer.key, peer);
  return peer;
}

function addressPeer(state: SynthesisState, ip: string): Peer {
  let peer = state.peers.byAddress.get(ip);
  if (!peer) {
    peer = intern(state, ipPeer(hostCidr(ip)));
    state.peers.byAddress.set(ip, peer);
  }
  return peer;
}

/** How `ep` appears as a peer in a rule; undefined (with a warning) when it cannot be named. */
export function peerOf(state: SynthesisState, ep: Endpoint): Peer | undefined {
  if (ep.kind === 'external') return addressPeer(state, ep.ip);
  const w = ep.workload;
  const known = state.peers.byWorkload.get(w);
  if (known) return known;
  if (ep.pod.spec?.hostNetwork || isEmptySelector(w.selector)) {
    const why = ep.pod.spec?.hostNetwork
      ? 'runs in the host network (its traffic carries the node address)'
      : 'has no stable labels to select it by (a podSelector {} would select the whole namespace)';
    if (ep.ip && ipFamily(ep.ip) !== 0) {
      state.warnings.addOnce(`peer:${workloadKey(w)}`, `${workloadLabel(w)} ${why}; allowed as a peer by its address ${hostCidr(ep.ip)} instead`);
      return addressPeer(state, ep.ip);
    }
    state.warnings.addOnce(`peer:${workloadKey(w)}`, `${workloadLabel(w)} ${why} and has no address; traffic with it is not allowed`);
    return undefined;
  }
  const peer = intern(state, podsPeer(w.namespace, w.selector));
  state.peers.byWorkload.set(w, peer);
  return peer;
}
