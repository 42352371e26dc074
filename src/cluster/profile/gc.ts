/**
 * Retention for profiles nobody writes any more (a node that left the cluster): any agent may
 * delete an object none of whose edges was seen within the retention period — the same rule by
 * which a live writer empties and deletes its own objects, so the two never disagree. The delete
 * carries the object's resourceVersion: an object its writer has just updated is left alone.
 */
import type { Agent } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { deleteProfile, listProfiles } from './client.js';
import type { TrafficProfile } from './types.js';
import { stampBefore } from '../../flows/timestamp.js';

/** Whether nothing in the profile was seen at or after `cutoffMs`. */
export function isExpired(p: TrafficProfile, cutoffMs: number): boolean {
  const edges = p.status?.edges ?? [];
  if (edges.length === 0) return stampBefore(p.status?.lastWrite ?? p.metadata.creationTimestamp ?? '', cutoffMs);
  return edges.every((e) => stampBefore(e.lastSeen, cutoffMs));
}

/** Deletes every expired profile the caller may list; returns how many. */
export async function collectExpiredProfiles(kc: KubeConfig, retentionMs: number, now = Date.now(), pool?: Agent): Promise<number> {
  const cutoff = now - retentionMs;
  let deleted = 0;
  // From the API server's watch cache: an hourly sweep should not read etcd.
  for (const p of await listProfiles(kc, { fromCache: true, pool })) {
    if (!isExpired(p, cutoff)) continue;
    await deleteProfile(kc, p.metadata.namespace, p.metadata.name, p.metadata.resourceVersion, pool);
    deleted++;
  }
  return deleted;
}
