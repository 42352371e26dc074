/**
 * Merging edges: observations into a node's share (the writer), and nodes' shares into one
 * workload's profile (the reader). Counts add, first seen is the earliest, last seen the latest,
 * nodes are united; the same edge is the same `edgeKey`. Pure functions, no I/O.
 */
import type { EdgeObservation, ProfileCounter, ProfileEdge, TrafficProfile, WorkloadIdentity } from './types.js';
import { edgeKey, workloadIdentityKey } from './types.js';
import { earlierTimestamp as earlier, laterTimestamp as later, stampBefore } from '../../flows/timestamp.js';

/** Adds `count` connects of an edge seen between first and last to the table (a new entry, or the sum). */
export function addEdge(table: Map<string, ProfileEdge>, e: EdgeObservation, count: number, first: string, last: string, key = edgeKey(e)): void {
  const known = table.get(key);
  if (known) {
    known.count += count;
    known.firstSeen = earlier(known.firstSeen, first);
    known.lastSeen = later(known.lastSeen, last);
    return;
  }
  const edge: ProfileEdge = { peer: e.peer, ...(e.via ? { via: e.via } : {}), port: e.port, protocol: e.protocol, outcome: e.outcome, count, firstSeen: first, lastSeen: last };
  table.set(key, edge);
}

/** Merges one node's edge into a workload's table, uniting the nodes that saw it; returns the merged edge. */
export function mergeEdge(table: Map<string, ProfileEdge>, e: ProfileEdge, node: string): ProfileEdge {
  const key = edgeKey(e);
  const known = table.get(key);
  if (!known) {
    const nodes = e.nodes ? [...e.nodes] : [];
    if (!nodes.includes(node)) nodes.push(node);
    const merged = { ...e, nodes };
    table.set(key, merged);
    return merged;
  }
  known.count += e.count;
  known.firstSeen = earlier(known.firstSeen, e.firstSeen);
  known.lastSeen = later(known.lastSeen, e.lastSeen);
  // A handful of nodes per edge: a list beats a Set; sorted once, when the merge is done.
  const nodes = known.nodes!;
  for (const n of e.nodes ?? []) if (!nodes.includes(n)) nodes.push(n);
  if (!nodes.includes(node)) nodes.push(node);
  return known;
}

/**
 * Why some connects of an object's edge may have been made while its node's agent did not observe
 * UDP (status.protocols), or undefined when UDP was observed since before the edge was first seen.
 */
export function udpUnobservedReason(o: TrafficProfile, e: ProfileEdge): string | undefined {
  const protocols = o.status?.protocols;
  const where = `node ${o.spec.node}`;
  if (!protocols) return `${where}: its agent did not record which protocols it observed (an agent or a CRD older than status.protocols, or an agent that had not attached yet)`;
  const udp = protocols.find((p) => p.protocol === 'UDP');
  if (!udp || udp.since === undefined) return `${where}: its agent did not observe UDP (${udp?.problem ?? 'not said why'})`;
  if (earlier(udp.since, e.firstSeen) !== udp.since) return `${where}: its agent observed UDP only since ${udp.since}, after this workload's connects from ${e.firstSeen}`;
  return undefined;
}

/** Removes edges last seen before `cutoff`; returns what was removed. */
export function expireEdges(table: Map<string, ProfileEdge>, cutoffMs: number): ProfileCounter {
  const removed: ProfileCounter = { edges: 0, connects: 0 };
  for (const [key, e] of table) {
    if (stampBefore(e.lastSeen, cutoffMs)) {
      table.delete(key);
      removed.edges++;
      removed.connects += e.count;
    }
  }
  return removed;
}

export function addCounter(a: ProfileCounter, b: ProfileCounter): ProfileCounter {
  return { edges: a.edges + b.edges, connects: a.connects + b.connects };
}

/** A workload's profile merged over every node's object. */
export interface MergedProfile {
  workload: WorkloadIdentity;
  edges: ProfileEdge[];
  nodes: string[];
  overflow: ProfileCounter;
  expired: ProfileCounter;
  /** The objects it was merged from (namespace/name). */
  objects: string[];
  oldestObservation?: string;
}

/** Stable order: edges sorted by key, so the same profiles always read the same. */
export function mergeProfiles(objects: TrafficProfile[]): MergedProfile[] {
  const byWorkload = new Map<string, { merged: MergedProfile; table: Map<string, ProfileEdge> }>();
  for (const o of objects) {
    const key = workloadIdentityKey(o.spec.workload);
    let entry = byWorkload.get(key);
    if (!entry) {
      entry = {
        merged: { workload: o.spec.workload, edges: [], nodes: [], overflow: { edges: 0, connects: 0 }, expired: { edges: 0, connects: 0 }, objects: [] },
        table: new Map(),
      };
      byWorkload.set(key, entry);
    }
    const m = entry.merged;
    m.objects.push(`${o.metadata.namespace}/${o.metadata.name}`);
    if (!m.nodes.includes(o.spec.node)) m.nodes.push(o.spec.node);
    // Labels seen on later objects win: they are the workload's newer pods' labels.
    m.workload = { ...m.workload, labels: { ...m.workload.labels, ...o.spec.workload.labels } };
    const s = o.status;
    if (!s) continue;
    m.overflow = addCounter(m.overflow, s.overflow ?? { edges: 0, connects: 0 });
    m.expired = addCounter(m.expired, s.expired ?? { edges: 0, connects: 0 });
    for (const e of s.edges ?? []) {
      const merged = mergeEdge(entry.table, e, o.spec.node);
      // One node that did not observe UDP for it is enough: the first reason found is kept.
      merged.udpUnobserved ??= udpUnobservedReason(o, e);
      m.oldestObservation = m.oldestObservation === undefined ? e.firstSeen : earlier(m.oldestObservation, e.firstSeen);
    }
  }
  const out: MergedProfile[] = [];
  for (const [, { merged, table }] of [...byWorkload].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    merged.edges = [...table].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
    for (const e of merged.edges) e.nodes!.sort();
    merged.nodes.sort();
    out.push(merged);
  }
  return out;
}
