/**
 * The cluster snapshot recorded beside a recording (`rec.jsonl` → `rec.cluster.yaml`): what a
 * recording needs to be judged later when no cluster holds its endpoints — the containers
 * `learn --local` modelled as pods. Written as the multi-document YAML `--cluster` reads, so the
 * offline commands (learn, diff, check) judge a local recording exactly as the live session did.
 *
 * Sessions appending to one recording accumulate: a pod of an earlier session stays (its flows
 * are still in the recording), one seen again takes its newest labels and addresses.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { writeFileAtomic } from '../flows/atomic-file.js';
import { NetpolError } from '../errors.js';
import type { ClusterObjects, V1Namespace, V1Pod } from './objects.js';
import { loadSnapshot } from './snapshot.js';

/** `rec.jsonl` (or `.ndjson`, `.json`, each optionally `.gz`) → `rec.cluster.yaml` in the same directory. */
export function recordedSnapshotPath(recording: string): string {
  const stem = basename(recording).replace(/\.(jsonl|ndjson|json)(\.gz)?$/, '');
  return join(dirname(recording), `${stem}.cluster.yaml`);
}

export interface RecordedSnapshots {
  /** Snapshot files found, one per recording that has one. */
  found: string[];
  /** Recordings without one (stdin included). */
  missing: string[];
}

export function findRecordedSnapshots(recordings: string[]): RecordedSnapshots {
  const found: string[] = [];
  const missing: string[] = [];
  for (const r of recordings) {
    const path = r === '-' ? undefined : recordedSnapshotPath(r);
    if (path !== undefined && existsSync(path)) {
      if (!found.includes(path)) found.push(path);
    } else {
      missing.push(r);
    }
  }
  return { found, missing };
}

const HEADER = '# Recorded by netpol beside its recording: the endpoints its flows name, for --cluster.\n';

function key(o: { metadata?: { namespace?: string; name?: string } }): string {
  return `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}`;
}

/**
 * Writes (atomically: atomic-file.ts) the snapshot for `recording`, merged with the one
 * already there: namespaces and pods by name, the new objects winning.
 */
export function writeRecordedSnapshot(recording: string, objects: Pick<ClusterObjects, 'namespaces' | 'pods'>): string {
  const path = recordedSnapshotPath(recording);
  const namespaces = new Map<string, V1Namespace>();
  const pods = new Map<string, V1Pod>();
  if (existsSync(path)) {
    const before = loadSnapshot([path]);
    for (const n of before.namespaces) namespaces.set(n.metadata?.name ?? '', n);
    for (const p of before.pods) pods.set(key(p), p);
  }
  for (const n of objects.namespaces) namespaces.set(n.metadata?.name ?? '', n);
  for (const p of objects.pods) pods.set(key(p), p);
  const sorted = <T extends { metadata?: { namespace?: string; name?: string } }>(m: Map<string, T>): T[] =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  const list = { apiVersion: 'v1', kind: 'List', items: [...sorted(namespaces), ...sorted(pods)] };
  try {
    writeFileAtomic(path, HEADER + stringify(list, { lineWidth: 0 }));
  } catch (err) {
    throw new NetpolError(`cannot write the recorded snapshot ${path}: ${(err as Error).message}`, { cause: err });
  }
  return path;
}
