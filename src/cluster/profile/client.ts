/**
 * TrafficProfile requests to the API server: server-side apply of an object and of its status,
 * list (paged, by namespace and label selector), delete, and whether the CRD is served at all.
 */
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiStatusError, rawRequest } from '../live.js';
import type { TrafficProfile } from './types.js';
import { PROFILE_API_VERSION, PROFILE_GROUP, PROFILE_KIND, PROFILE_PLURAL, PROFILE_VERSION } from './types.js';

const BASE = `/apis/${PROFILE_GROUP}/${PROFILE_VERSION}`;

/**
 * One keep-alive connection pool for profile requests: an agent writes every few seconds for days,
 * and a TLS handshake per write would cost the API server more than the write (measured in
 * bench/profile-scale.mjs). Idle sockets do not keep the process alive.
 */
const sharedPool = new https.Agent({ keepAlive: true, maxSockets: 4 });

/** A connection pool of its own (a writer's); requests without one share a module-wide pool. */
export function newConnectionPool(): https.Agent {
  return new https.Agent({ keepAlive: true, maxSockets: 2 });
}

function objectPath(namespace: string, name: string): string {
  return `${BASE}/namespaces/${encodeURIComponent(namespace)}/${PROFILE_PLURAL}/${encodeURIComponent(name)}`;
}

export async function getProfile(kc: KubeConfig, namespace: string, name: string, timeoutMs?: number, pool: https.Agent = sharedPool): Promise<TrafficProfile | undefined> {
  try {
    return (await rawRequest(kc, objectPath(namespace, name), { timeoutMs, agent: pool })) as TrafficProfile;
  } catch (err) {
    if (err instanceof ApiStatusError && err.statusCode === 404) return undefined;
    throw err;
  }
}

/**
 * Writes the object: its status by server-side apply (the one request of steady state), creating
 * the object first when the API server does not have it. The content is absolute (counts, not
 * increments), so a request retried after a lost answer writes the same thing twice, harmlessly.
 */
export async function applyProfile(kc: KubeConfig, profile: TrafficProfile, fieldManager: string, opts: { exists?: boolean; timeoutMs?: number; pool?: https.Agent } = {}): Promise<void> {
  const { namespace, name } = profile.metadata;
  const query = `?fieldManager=${encodeURIComponent(fieldManager)}&force=true`;
  const statusBody = { apiVersion: PROFILE_API_VERSION, kind: PROFILE_KIND, metadata: { name, namespace }, status: profile.status };
  const req = { method: 'PATCH' as const, contentType: 'application/apply-patch+yaml', timeoutMs: opts.timeoutMs ?? 15_000, agent: opts.pool ?? sharedPool };
  if (opts.exists !== false) {
    try {
      await rawRequest(kc, objectPath(namespace, name) + '/status' + query, { ...req, body: statusBody });
      return;
    } catch (err) {
      if (!(err instanceof ApiStatusError && err.statusCode === 404)) throw err;
    }
  }
  const main = { apiVersion: PROFILE_API_VERSION, kind: PROFILE_KIND, metadata: { name, namespace, labels: profile.metadata.labels }, spec: profile.spec };
  // Apply, not create: an object that exists after all (a lost answer, a retry) is no error.
  await rawRequest(kc, objectPath(namespace, name) + query, { ...req, body: main });
  await rawRequest(kc, objectPath(namespace, name) + '/status' + query, { ...req, body: statusBody });
}

export async function deleteProfile(kc: KubeConfig, namespace: string, name: string, resourceVersion?: string, pool: https.Agent = sharedPool): Promise<void> {
  try {
    await rawRequest(kc, objectPath(namespace, name), {
      method: 'DELETE',
      agent: pool,
      body: resourceVersion ? { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion } } : undefined,
    });
  } catch (err) {
    if (err instanceof ApiStatusError && (err.statusCode === 404 || err.statusCode === 409)) return;
    throw err;
  }
}

export interface ListProfilesOptions {
  /** Undefined: every namespace. */
  namespace?: string;
  labelSelector?: string;
  timeoutMs?: number;
  /** Serve from the API server's watch cache (resourceVersion=0): cheaper, possibly a little stale. */
  fromCache?: boolean;
  pool?: https.Agent;
  /**
   * Objects per request (default 500); 0 asks for the whole collection at once. An unpaginated
   * list (no resourceVersion: a consistent read, as fresh as a paginated one) is served from the
   * API server's watch cache (ConsistentListFromCache, on by default since Kubernetes 1.31); the
   * test API server (1.34) served only the first page of a paginated list from it and the other
   * 23 pages of 12,000 profiles from etcd (its apiserver_cache_list_total and etcd_requests_total),
   * decoding every object again: 8 s of its CPU in pages of 500, 1-2 s in one request.
   */
  pageSize?: number;
}

/** Every TrafficProfile in scope, in pages (see pageSize), without metadata.managedFields. */
export async function listProfiles(kc: KubeConfig, opts: ListProfilesOptions = {}): Promise<TrafficProfile[]> {
  const path = opts.namespace === undefined ? `${BASE}/${PROFILE_PLURAL}` : `${BASE}/namespaces/${encodeURIComponent(opts.namespace)}/${PROFILE_PLURAL}`;
  const items: TrafficProfile[] = [];
  const pageSize = opts.pageSize ?? 500;
  let cont = '';
  do {
    const q = new URLSearchParams(pageSize > 0 ? { limit: String(pageSize) } : {});
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (cont) q.set('continue', cont);
    else if (opts.fromCache) q.set('resourceVersion', '0');
    const page = (await rawRequest(kc, `${path}?${q}`, { timeoutMs: opts.timeoutMs ?? 60_000, agent: opts.pool ?? sharedPool })) as { items?: TrafficProfile[]; metadata?: { continue?: string } };
    for (const item of page.items ?? []) {
      // Server-side apply's bookkeeping, a third of each object and never read: not kept while
      // the other pages arrive (12,000 objects at the scale of bench/learn-profiles-scale.mjs).
      delete (item.metadata as { managedFields?: unknown }).managedFields;
      items.push(item);
    }
    cont = page.metadata?.continue ?? '';
  } while (cont);
  return items;
}

/** Whether the API server serves trafficprofiles.netpol.io/v1alpha1 (the CRD is installed and established). */
export async function profilesServed(kc: KubeConfig): Promise<boolean> {
  try {
    const list = (await rawRequest(kc, BASE, { timeoutMs: 10_000 })) as { resources?: { name: string }[] };
    return (list.resources ?? []).some((r) => r.name === PROFILE_PLURAL);
  } catch (err) {
    if (err instanceof ApiStatusError && err.statusCode === 404) return false;
    throw err;
  }
}
