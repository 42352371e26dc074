/**
 * Port matchers: one compiled NetworkPolicyPort, answering "does traffic on this port and protocol
 * match?". The port judged is the one the packet reaches: after Service DNAT, the targetPort.
 *
 * - protocol defaults to TCP; a port entry only ever matches its own protocol.
 * - no `port`: every port of that protocol.
 * - a number, with optional `endPort`: the inclusive range port..endPort.
 * - a name: resolved on the DESTINATION pod's container ports (for egress rules the peer pod, for
 *   ingress rules the selected pod itself), with the entry's protocol. A destination that is not a
 *   pod, or a pod without such a named port, does not match.
 * An empty or absent `ports` list (all ports, all protocols) is the rule's business, not this file's.
 */
import type { V1NetworkPolicyPort } from '@kubernetes/client-node';
import type { V1Pod } from '../cluster/objects.js';
import type { Protocol } from '../flows/record.js';
import type { Endpoint } from './traffic.js';

export type PortMatcher =
  | { kind: 'protocol'; proto: string; description: string }
  | { kind: 'range'; proto: string; from: number; to: number; description: string }
  | { kind: 'named'; proto: string; name: string; description: string };

export function compilePort(port: V1NetworkPolicyPort): PortMatcher {
  const proto = port.protocol ?? 'TCP';
  const p = port.port;
  if (p === undefined || p === null) return { kind: 'protocol', proto, description: `any port/${proto}` };
  if (typeof p === 'number') {
    const to = port.endPort ?? p;
    return { kind: 'range', proto, from: p, to, description: to === p ? `${p}/${proto}` : `${p}-${to}/${proto}` };
  }
  return { kind: 'named', proto, name: p, description: `${p}/${proto}` };
}

type NamedPorts = Map<string, Partial<Record<string, number>>>;

/** Named container ports per pod object, computed once per pod. */
const namedPortCache = new WeakMap<V1Pod, NamedPorts>();

function namedPortsOf(pod: V1Pod): NamedPorts {
  let ports = namedPortCache.get(pod);
  if (!ports) {
    ports = new Map();
    for (const c of [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])]) {
      for (const cp of c.ports ?? []) {
        if (!cp.name) continue;
        const byProto = ports.get(cp.name) ?? {};
        const proto = cp.protocol ?? 'TCP';
        // The first container declaring the name wins, like kubelet's lookup for Services.
        if (byProto[proto] === undefined) byProto[proto] = cp.containerPort;
        ports.set(cp.name, byProto);
      }
    }
    namedPortCache.set(pod, ports);
  }
  return ports;
}

/** The number a named port has on a pod for a protocol; undefined when the pod has no such port. */
export function resolveNamedPort(pod: V1Pod, name: string, proto: string): number | undefined {
  return namedPortsOf(pod).get(name)?.[proto];
}

/** Whether traffic reaching `port`/`proto` on `dst` matches this port entry. */
export function portMatches(m: PortMatcher, port: number, proto: Protocol, dst: Endpoint): boolean {
  if (m.proto !== proto) return false;
  switch (m.kind) {
    case 'protocol':
      return true;
    case 'range':
      return port >= m.from && port <= m.to;
    case 'named':
      return dst.kind === 'pod' && resolveNamedPort(dst.pod, m.name, proto) === port;
  }
}
