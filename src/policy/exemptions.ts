/**
 * Whether a gate applies at all: the one decision the evaluator (evaluate.ts) and the explanation
 * (explain.ts) both take from here, so `diff` and `explain` cannot disagree about it.
 *
 * A gate does not apply when:
 * - that side is not a pod of the cluster (an outside address, a node), or is a host-network pod
 *   (NetworkPolicy does not govern it: see isPolicyPod);
 * - the traffic is a pod talking to itself — the API documents that "a pod cannot block access to
 *   itself" — then neither gate applies;
 * - the traffic is between a pod and its own node (the node's address, or a host-network pod on
 *   it): "traffic to and from the node where a Pod is running is always allowed", so the pod's
 *   egress gate does not apply to traffic to its node, nor its ingress gate to traffic from it.
 */
import { isPolicyPod } from './peer-matcher.js';
import type { Direction } from './target.js';
import type { Endpoint, PodEndpoint, Traffic } from './traffic.js';

/** Why a gate applies or not. */
export type GateStatus = 'applies' | 'not-a-pod' | 'host-network' | 'self' | 'own-node';

/** The node an endpoint stands for when it is a node: a node's address, or a host-network pod on it. */
function nodeOf(e: Endpoint): string | undefined {
  return e.kind === 'external' ? e.node : e.pod.spec?.hostNetwork ? e.pod.spec.nodeName : undefined;
}

/** True when both ends are the same pod (the same object, or the same namespace/name). */
export function isSelfTraffic(traffic: Traffic): boolean {
  const { src, dst } = traffic;
  if (src.kind !== 'pod' || dst.kind !== 'pod') return false;
  return src.pod === dst.pod || (src.namespace === dst.namespace && src.name === dst.name);
}

/** True when `other` is the node `pod` runs on (its address, or a host-network pod on it). */
function isOwnNode(pod: PodEndpoint, other: Endpoint): boolean {
  const node = pod.pod.spec?.nodeName;
  if (node === undefined || node === '') return false;
  return nodeOf(other) === node;
}

/**
 * True when the source is the destination pod's own node: such traffic has no ingress gate
 * (kubelet probes, for one).
 */
export function fromOwnNode(traffic: Traffic): boolean {
  return traffic.dst.kind === 'pod' && isOwnNode(traffic.dst, traffic.src);
}

/** True when the destination is the source pod's own node: such traffic has no egress gate. */
export function toOwnNode(traffic: Traffic): boolean {
  return traffic.src.kind === 'pod' && isOwnNode(traffic.src, traffic.dst);
}

/** Whether the gate of `direction` applies to `traffic`, and if not, why not. */
export function gateStatus(direction: Direction, traffic: Traffic): GateStatus {
  const end = direction === 'egress' ? traffic.src : traffic.dst;
  if (end.kind !== 'pod') return 'not-a-pod';
  if (!isPolicyPod(end)) return 'host-network';
  if (isSelfTraffic(traffic)) return 'self';
  if (direction === 'egress' ? toOwnNode(traffic) : fromOwnNode(traffic)) return 'own-node';
  return 'applies';
}

export function gateApplies(direction: Direction, traffic: Traffic): boolean {
  return gateStatus(direction, traffic) === 'applies';
}

/** Why a gate that does not apply (a pod's side only: self or own node) lets the traffic through, in words. */
export function exemptionReason(status: 'self' | 'own-node', direction: Direction): string {
  if (status === 'self') return 'a pod cannot block traffic to itself';
  return direction === 'egress' ? 'traffic to its own node is always allowed' : 'traffic from its own node is always allowed';
}
