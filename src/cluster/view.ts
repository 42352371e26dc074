/**
 * ClusterView: the one question-answering interface over a cluster, whether it is a snapshot file
 * (src/cluster/snapshot.ts) or a live API server (src/cluster/live.ts). Consumers ask it for a
 * ClusterIndex, which is immutable: a live view hands out a new index when the cluster changes,
 * so one evaluation never sees half an update.
 */
import type { ClusterObjects } from './objects.js';
import type { ClusterIndex } from './lookup.js';

export interface ClusterView {
  /** Where the data comes from, for messages ("snapshot fixtures/seed/cluster.yaml", "context kind-dev"). */
  readonly description: string;
  /** The current objects. */
  objects(): ClusterObjects;
  /** An index over the current objects (cached until they change). */
  index(): ClusterIndex;
  /** Releases watches and sockets; a snapshot has nothing to release. */
  close(): Promise<void>;
}
