/**
 * The TrafficProfile (trafficprofiles.netpol.io/v1alpha1, deploy/crds/trafficprofiles.yaml): the
 * durable record of what a workload does, kept through the API server.
 *
 * One object per workload AND node: `spec` names the workload (its owner identity at the time the
 * connects happened) and the node whose agent is the object's only writer; `status` holds that
 * node's observed edges, what did not fit (overflow), what retention removed (expired), and the
 * journal position the content includes (so a replayed journal never counts a connect twice).
 * The reader merges a workload's objects across nodes (merge.ts). Why this shape: README
 * "Traffic profiles" (/work/notes/profile-readme.md).
 */
import { createHash } from 'node:crypto';
import type { LabelSelector } from '../objects.js';

export const PROFILE_GROUP = 'netpol.io';
export const PROFILE_VERSION = 'v1alpha1';
export const PROFILE_API_VERSION = `${PROFILE_GROUP}/${PROFILE_VERSION}`;
export const PROFILE_KIND = 'TrafficProfile';
export const PROFILE_PLURAL = 'trafficprofiles';
export const PROFILE_CRD_NAME = `${PROFILE_PLURAL}.${PROFILE_GROUP}`;

/** Labels every profile carries, so a node's share or a workload's objects list by selector. */
export const NODE_LABEL = 'netpol.io/node';
export const WORKLOAD_KIND_LABEL = 'netpol.io/workload-kind';
export const WORKLOAD_NAME_LABEL = 'netpol.io/workload-name';

export type ProfileProtocol = 'TCP' | 'UDP' | 'SCTP';
/** How the connect ended; `unknown` when the kernel never said (a connect still pending at shutdown). */
export type ProfileOutcome = 'established' | 'refused' | 'timeout' | 'closed' | 'error' | 'unknown';

/** A workload as it was when the connect happened: its top owner, selector and stable pod labels. */
export interface WorkloadIdentity {
  namespace: string;
  kind: string;
  name: string;
  /** The controller's selector without per-revision labels (what a policy selects it by). */
  selector: LabelSelector;
  /** The pod's labels without per-revision labels (what `-l` selects workloads by). */
  labels: Record<string, string>;
  /** Pods of the host network: NetworkPolicy does not apply to them. */
  hostNetwork?: boolean;
}

/** The other end of an edge: a workload, an address outside any pod, or a Service that led nowhere. */
export type PeerIdentity =
  | { workload: WorkloadIdentity }
  | { address: string; node?: string }
  | { service: { namespace: string; name: string }; problem: string };

/** The Service a connect dialled (its ClusterIP), when the peer was reached through one. */
export interface ServiceVia {
  namespace: string;
  name: string;
  /** The Service port dialled; the edge's `port` is where it led (the targetPort). */
  port: number;
  selectorless?: boolean;
}

/** What one connect adds to one edge, before counting. */
export interface EdgeObservation {
  peer: PeerIdentity;
  via?: ServiceVia;
  /** The port the connection reached (after Service DNAT). */
  port: number;
  protocol: ProfileProtocol;
  outcome: ProfileOutcome;
}

/** One distinct edge of a profile, with its counts. */
export interface ProfileEdge extends EdgeObservation {
  count: number;
  firstSeen: string;
  lastSeen: string;
  /** Nodes that saw it (filled in when a workload's objects are merged; one node per stored object). */
  nodes?: string[];
  /**
   * Filled in when a workload's objects are merged, never stored: why some of its connects were
   * made while their node's agent did not observe UDP (so the workload's DNS lookups then were not
   * seen). Absent: every node that saw it observed UDP since before it first saw it.
   */
  udpUnobserved?: string;
}

/**
 * Whether the agents writing an object observed a protocol: since when without a break (agent
 * restarts that keep observing it do not break it), or why not. An object's claim covers its
 * content when it was written: an edge first seen before `since` may have had connects, and DNS
 * lookups, that were not observed.
 */
export interface ProtocolObservation {
  protocol: ProfileProtocol;
  /** Observed continuously on this node since then (RFC 3339). Absent: not observed. */
  since?: string;
  /** Why it is not observed (the agent's reason). */
  problem?: string;
}

/** One connect of a workload, as the writer takes it: the owner then, and the edge(s) it made. */
export interface ProfileObservation {
  owner: WorkloadIdentity;
  /** One per distinct peer the connect reached (a Service connect reaches its backends' workloads). */
  edges: EdgeObservation[];
  /** When it happened (RFC 3339). */
  time: string;
}

export interface ProfileCounter {
  edges: number;
  connects: number;
}

export interface TrafficProfileSpec {
  workload: WorkloadIdentity;
  node: string;
}

export interface TrafficProfileStatus {
  edges: ProfileEdge[];
  edgeCount: number;
  /** Edges (and their connects) that did not fit the size bound: reported here, never cut silently. */
  overflow: ProfileCounter;
  /** Edges removed by retention (older than --retention): a choice, not a loss. */
  expired: ProfileCounter;
  /** The writer's journal and the highest sequence number this content includes. */
  journal: { id: string; seq: number };
  oldestObservation?: string;
  lastWrite: string;
  /**
   * The protocols the writing agent observed (TCP; UDP only with its cgroup hooks attached). Absent
   * in objects of older agents, and while an agent is still attaching its programs: then nothing
   * is known about UDP, and learning assumes the DNS rule.
   */
  protocols?: ProtocolObservation[];
}

export interface TrafficProfile {
  apiVersion: typeof PROFILE_API_VERSION;
  kind: typeof PROFILE_KIND;
  metadata: { name: string; namespace: string; labels?: Record<string, string>; resourceVersion?: string; creationTimestamp?: string };
  spec: TrafficProfileSpec;
  status?: TrafficProfileStatus;
}

export function workloadIdentityKey(w: Pick<WorkloadIdentity, 'namespace' | 'kind' | 'name'>): string {
  return `${w.namespace}/${w.kind}/${w.name}`;
}

function peerKey(p: PeerIdentity): string {
  if ('workload' in p) return `w:${workloadIdentityKey(p.workload)}`;
  if ('address' in p) return `a:${p.address}`;
  return `s:${p.service.namespace}/${p.service.name}`;
}

/** What makes two observations the same edge: peer, the Service dialled, port, protocol, outcome. */
export function edgeKey(e: EdgeObservation): string {
  const via = e.via ? `${e.via.namespace}/${e.via.name}:${e.via.port}` : '';
  return `${peerKey(e.peer)}|${via}|${e.port}/${e.protocol}|${e.outcome}`;
}

/** A label value (≤ 63, alphanumeric ends): long or odd names become a prefix and a hash. */
export function labelValue(value: string): string {
  const clean = value.replace(/[^A-Za-z0-9._-]/g, '-');
  if (clean === value && value.length <= 63 && /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(value)) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 10);
  return `${clean.slice(0, 50).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')}-${hash}`.replace(/^-/, 'x-');
}

/**
 * The object's name: `<kind>.<name>.<node>` in lower case, a DNS subdomain of at most 253
 * characters; a hash of the three keeps names unique when they must be shortened or were changed.
 */
export function profileName(owner: Pick<WorkloadIdentity, 'kind' | 'name'>, node: string): string {
  const raw = `${owner.kind}.${owner.name}.${node}`.toLowerCase();
  const clean = raw.replace(/[^a-z0-9.-]/g, '-').replace(/\.{2,}/g, '.');
  if (clean === raw && raw.length <= 253 && /^[a-z0-9]/.test(raw) && /[a-z0-9]$/.test(raw)) return raw;
  const hash = createHash('sha256').update(`${owner.kind}\u0000${owner.name}\u0000${node}`).digest('hex').slice(0, 12);
  return `${clean.slice(0, 230).replace(/^[^a-z0-9]+|[^a-z0-9.-]+$/g, '').replace(/[.-]+$/, '')}-${hash}`;
}

export function profileLabels(owner: WorkloadIdentity, node: string): Record<string, string> {
  return { [NODE_LABEL]: labelValue(node), [WORKLOAD_KIND_LABEL]: labelValue(owner.kind), [WORKLOAD_NAME_LABEL]: labelValue(owner.name) };
}
