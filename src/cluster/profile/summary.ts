/**
 * `kubectl netpol status`'s profile figures: how many TrafficProfile objects, their total size (as
 * JSON, what etcd stores within a few percent), the oldest observation, and the same per namespace.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { compareTimestamps } from '../../flows/timestamp.js';
import { listProfiles } from './client.js';
import type { TrafficProfile } from './types.js';

export interface ProfileFigures {
  count: number;
  bytes: number;
  edges: number;
  /** Connects that did not fit a profile's size bound (status.overflow). */
  overflowConnects: number;
  oldestObservation?: string;
}

export interface ProfileSummary extends ProfileFigures {
  workloads: number;
  nodes: number;
  perNamespace: Record<string, ProfileFigures>;
}

function add(f: ProfileFigures, p: TrafficProfile): void {
  f.count++;
  f.bytes += Buffer.byteLength(JSON.stringify(p));
  f.edges += p.status?.edgeCount ?? p.status?.edges?.length ?? 0;
  f.overflowConnects += p.status?.overflow?.connects ?? 0;
  const oldest = p.status?.oldestObservation;
  if (oldest && (f.oldestObservation === undefined || compareTimestamps(oldest, f.oldestObservation) < 0)) f.oldestObservation = oldest;
}

/** Figures over the given objects (pure: the status command may already hold them). */
export function summarizeProfiles(objects: TrafficProfile[]): ProfileSummary {
  const total: ProfileSummary = { count: 0, bytes: 0, edges: 0, overflowConnects: 0, workloads: 0, nodes: 0, perNamespace: {} };
  const workloads = new Set<string>();
  const nodes = new Set<string>();
  for (const p of objects) {
    add(total, p);
    const ns = p.metadata.namespace;
    add((total.perNamespace[ns] ??= { count: 0, bytes: 0, edges: 0, overflowConnects: 0 }), p);
    workloads.add(`${ns}/${p.spec?.workload?.kind}/${p.spec?.workload?.name}`);
    if (p.spec?.node) nodes.add(p.spec.node);
  }
  total.workloads = workloads.size;
  total.nodes = nodes.size;
  return total;
}

/** Lists the profiles (all namespaces, or one) and summarizes them. */
export async function profileSummary(kc: KubeConfig, opts: { namespace?: string } = {}): Promise<ProfileSummary> {
  // From the watch cache: a status screen need not read etcd (at 12,000 profiles that is 34 MB).
  return summarizeProfiles(await listProfiles(kc, { fromCache: true, ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }) }));
}
