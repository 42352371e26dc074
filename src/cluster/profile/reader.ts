/**
 * Reading profiles for learning: every TrafficProfile the caller may list, merged per workload
 * across nodes (merge.ts), edges last seen before `since` left out. Profiles of every namespace are
 * read even when learning one: a workload's inbound traffic is recorded in its clients' profiles
 * (an agent sees connects where they start), wherever those clients run.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiStatusError, rawRequest } from '../live.js';
import { emptyClusterObjects, type ClusterObjects, type OwnerObject, type V1EndpointSlice, type V1Namespace, type V1Pod, type V1Service } from '../objects.js';
import { listProfiles } from './client.js';
import { mergeProfiles, type MergedProfile } from './merge.js';
import type { TrafficProfile } from './types.js';
import { stampAtOrAfter } from '../../flows/timestamp.js';

export interface ReadProfilesOptions {
  /** Only edges last seen at or after this time (ms since the epoch). */
  sinceMs?: number;
  /** Read only this namespace when the caller may not list profiles cluster-wide. */
  fallbackNamespace?: string;
}

export interface ProfileReading {
  profiles: MergedProfile[];
  objects: number;
  /** Edges (and their connects) older than --since, left out. */
  older: { edges: number; connects: number };
  /** Set when only one namespace could be read: inbound traffic from other namespaces is missing. */
  narrowedTo?: string;
}

export function filterSince(profiles: MergedProfile[], sinceMs: number | undefined): { profiles: MergedProfile[]; older: { edges: number; connects: number } } {
  const older = { edges: 0, connects: 0 };
  if (sinceMs === undefined) return { profiles, older };
  const out = profiles.map((p) => {
    const edges = p.edges.filter((e) => {
      const keep = stampAtOrAfter(e.lastSeen, sinceMs);
      if (!keep) {
        older.edges++;
        older.connects += e.count;
      }
      return keep;
    });
    return { ...p, edges };
  });
  return { profiles: out, older };
}

export async function readProfiles(kc: KubeConfig, opts: ReadProfilesOptions = {}): Promise<ProfileReading> {
  let objects: TrafficProfile[];
  let narrowedTo: string | undefined;
  // In one request: learning holds every profile anyway, and the API server answers it from its
  // watch cache (client.ts pageSize).
  try {
    objects = await listProfiles(kc, { pageSize: 0 });
  } catch (err) {
    if (!(err instanceof ApiStatusError && err.statusCode === 403 && opts.fallbackNamespace)) throw err;
    objects = await listProfiles(kc, { namespace: opts.fallbackNamespace, pageSize: 0 });
    narrowedTo = opts.fallbackNamespace;
  }
  const { profiles, older } = filterSince(mergeProfiles(objects), opts.sinceMs);
  return { profiles, objects: objects.length, older, ...(narrowedTo ? { narrowedTo } : {}) };
}

/**
 * The little of the cluster that learning from profiles needs besides them: namespace labels, and
 * the DNS namespace's pods, Services, EndpointSlices and owners (to find the cluster DNS pods).
 * Read as plain lists, not informers: `learn -A` over a large cluster reads profiles, not pods.
 */
export async function learningContext(kc: KubeConfig, dnsNamespace: string): Promise<ClusterObjects> {
  const list = async <T>(path: string, kind?: string): Promise<T[]> => {
    try {
      const page = (await rawRequest(kc, path, { timeoutMs: 30_000 })) as { items?: T[] };
      return (page.items ?? []).map((i) => (kind ? ({ ...i, kind } as T) : i));
    } catch (err) {
      // Not allowed to read the DNS namespace: learning says so through the DNS warning instead.
      if (err instanceof ApiStatusError && (err.statusCode === 403 || err.statusCode === 404)) return [];
      throw err;
    }
  };
  const ns = encodeURIComponent(dnsNamespace);
  // Six independent requests at once (each a round trip to a possibly busy API server); all are
  // waited for, and the first failure in this order is the one thrown.
  const settled = await Promise.allSettled([
    list<V1Namespace>('/api/v1/namespaces', 'Namespace'),
    list<V1Pod>(`/api/v1/namespaces/${ns}/pods`, 'Pod'),
    list<V1Service>(`/api/v1/namespaces/${ns}/services`, 'Service'),
    list<V1EndpointSlice>(`/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, 'EndpointSlice'),
    list<OwnerObject>(`/apis/apps/v1/namespaces/${ns}/replicasets`, 'ReplicaSet'),
    list<OwnerObject>(`/apis/apps/v1/namespaces/${ns}/deployments`, 'Deployment'),
  ] as const);
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  const [namespaces, pods, services, endpointSlices, replicaSets, deployments] = settled.map((s) => (s as PromiseFulfilledResult<unknown[]>).value);
  const objects = emptyClusterObjects();
  objects.namespaces = namespaces as V1Namespace[];
  objects.pods = pods as V1Pod[];
  objects.services = services as V1Service[];
  objects.endpointSlices = endpointSlices as V1EndpointSlice[];
  objects.owners = [...(replicaSets as OwnerObject[]), ...(deployments as OwnerObject[])];
  return objects;
}
