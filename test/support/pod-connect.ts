/**
 * A connect as the cluster agent hands it over (PodConnect): a kernel event attributed to a pod,
 * with its flow record. Shared by the unit tests of the agent's wire protocol and of cluster-mode
 * trace output; each says every value its assertions read.
 */
import type { ConnectEvent } from '../../src/agent/event.js';
import type { PodConnect } from '../../src/cluster/cluster-agent.js';
import type { V1Pod } from '../../src/cluster/objects.js';

export interface PodConnectSpec {
  pod: V1Pod;
  /** K8S.NODE */
  node: string;
  container: string;
  time: Date;
  tsNs: bigint;
  cgroupId: bigint;
  pid: number;
  comm: string;
  sport: number;
  daddr: string;
  dport: number;
  latencyNs: number;
  outcome: ConnectEvent['outcome'];
  /** Fields of the record's destination beyond the bare address (a Service, a pod). */
  dst?: Partial<PodConnect['record']['dst']>;
  /** Fields of the record beyond v, proto, src and dst (ts, node, latency, outcome). */
  record?: Partial<PodConnect['record']>;
}

/** The event from a TCP connect of saddr 10.244.0.5 (the pod's address). */
export function podConnect(s: PodConnectSpec): PodConnect {
  const event: ConnectEvent = {
    tsNs: s.tsNs,
    latencyNs: s.latencyNs,
    cgroupId: s.cgroupId,
    pid: s.pid,
    tid: s.pid,
    uid: 0,
    gid: 0,
    mntns: 1,
    netns: 2,
    family: 4,
    saddr: '10.244.0.5',
    daddr: s.daddr,
    sport: s.sport,
    dport: s.dport,
    outcome: s.outcome,
    source: s.outcome === 'connecting' ? 'connect' : 'state',
    proto: 'TCP',
    errno: 0,
    comm: s.comm,
  };
  const name = s.pod.metadata!.name!;
  const namespace = s.pod.metadata!.namespace!;
  return {
    event,
    time: s.time,
    node: s.node,
    source: { pod: s.pod, namespace, name, container: s.container },
    record: {
      v: 1,
      ...s.record,
      proto: 'TCP',
      src: { ip: '10.244.0.5', port: s.sport, namespace, pod: name, container: s.container, pid: s.pid, comm: s.comm },
      dst: { ip: s.daddr, port: s.dport, namespace: null, pod: null, service: null, ...s.dst },
    },
  };
}
