/**
 * The synthesis state: everything one synthesize() call builds up, as one explicit object created
 * once and passed down to each step (collect, DNS, rules, self-checks), so a reader sees what
 * each step reads and writes instead of closures over shared maps.
 */
import type { ClusterIndex, Workload } from '../../cluster/lookup.js';
import type { V1Pod } from '../../cluster/objects.js';
import type { Traffic } from '../traffic.js';
import type { NormalizedOptions } from './options.js';
import type { PeerPorts } from './peer-ports.js';
import type { Peer } from './peers.js';
import type { Widening } from './types.js';
import { WarningLog } from './warnings.js';

/** A workload that gets (or may get) a policy, with what was observed for it. */
export interface LearnedWorkload {
  workload: Workload;
  /** workloadKey(workload). */
  key: string;
  egress: PeerPorts;
  ingress: PeerPorts;
  /** Seen receiving a connect. */
  inbound: boolean;
  /** Seen connecting out: a workload seen only as a destination may just not have been traced. */
  outbound: boolean;
  /**
   * Every flow it sent was recorded while UDP was observed (FlowRecord.observed), so a DNS lookup
   * it made would have been recorded; undefined until its first outbound flow.
   */
  udpObserved?: boolean;
}

/** Peers built so far: edges repeat the same workloads and addresses many times. */
export interface PeerTable {
  /** One Peer object per key, so rule maps can be keyed by object identity. */
  readonly byKey: Map<string, Peer>;
  /** The peer of each workload (pods by selector), built once. */
  readonly byWorkload: Map<Workload, Peer>;
  /** The /32 or /128 peer of each address, built once. */
  readonly byAddress: Map<string, Peer>;
}

export interface SynthesisState {
  readonly options: NormalizedOptions;
  readonly index: ClusterIndex;
  readonly warnings: WarningLog;
  /** workloadKey → what was learned for it. */
  readonly learned: Map<string, LearnedWorkload>;
  /** Per pod object: its learned entry, or null when it gets no policy (edges repeat pods a lot). */
  readonly learnedByPod: WeakMap<V1Pod, LearnedWorkload | null>;
  readonly peers: PeerTable;
  /**
   * Traffic that became rules, to be checked against the learned set at the end, and the number
   * of flows of each (parallel arrays: one small object per checked Traffic was a measurable share
   * of GC on large learns).
   */
  readonly verifyTraffic: Traffic[];
  readonly verifyCount: number[];
  /** Widenings reported while rules are built. */
  readonly widened: Widening[];
  /** Rendered peers the API-validation self-check has already seen (see self-check.ts). */
  readonly checkedPeers: Set<string>;
}

export function createState(options: NormalizedOptions, index: ClusterIndex): SynthesisState {
  return {
    options,
    index,
    warnings: new WarningLog(),
    learned: new Map(),
    learnedByPod: new WeakMap(),
    peers: { byKey: new Map(), byWorkload: new Map(), byAddress: new Map() },
    verifyTraffic: [],
    verifyCount: [],
    widened: [],
    checkedPeers: new Set(),
  };
}

/** Whether a learned workload's policy isolates ingress (see IngressMode). */
export function isIngressIsolated(options: NormalizedOptions, l: LearnedWorkload): boolean {
  return options.ingress === 'strict' || (options.ingress === 'observed' && l.inbound);
}
