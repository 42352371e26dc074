/**
 * Reading profiles for learning: every TrafficProfile the caller may list, merged per workload
 * across nodes (merge.ts), edges last seen before `since` left out. Profiles of every namespace are
 * read even when learning one: a workload's inbound traffic is recorded in its clients' profiles
 * (an agent sees connects where they start), wherever those clients run.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiStatusError } from '../live.js';
import { listProfiles } from './client.js';
import { mergeProfiles, type MergedProfile } from './merge.js';
import type { TrafficProfile } from './types.js';

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
      const keep = Date.parse(e.lastSeen) >= sinceMs;
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
  try {
    objects = await listProfiles(kc);
  } catch (err) {
    if (!(err instanceof ApiStatusError && err.statusCode === 403 && opts.fallbackNamespace)) throw err;
    objects = await listProfiles(kc, { namespace: opts.fallbackNamespace });
    narrowedTo = opts.fallbackNamespace;
  }
  const { profiles, older } = filterSince(mergeProfiles(objects), opts.sinceMs);
  return { profiles, objects: objects.length, older, ...(narrowedTo ? { narrowedTo } : {}) };
}
