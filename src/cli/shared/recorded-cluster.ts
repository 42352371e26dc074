/**
 * Which cluster snapshot an offline command judges a recording with: the `--cluster` files when
 * given, else the snapshots recorded beside every recording (`learn --local --record rec.jsonl`
 * writes `rec.cluster.yaml`), said on stderr. Shared by learn, diff and check.
 */
import { findRecordedSnapshots, recordedSnapshotPath } from '../../cluster/recorded-snapshot.js';
import { InputError } from '../../errors.js';

export function clusterFilesFor(cluster: string[] | undefined, recordings: string[], stderr: NodeJS.WritableStream = process.stderr): string[] | undefined {
  if (cluster && cluster.length > 0) return cluster;
  if (recordings.length === 0) return undefined;
  const { found, missing } = findRecordedSnapshots(recordings);
  if (found.length === 0) return undefined;
  if (missing.length > 0) {
    // Judging some recordings with a snapshot and the others with none would judge those blind.
    throw new InputError(
      '--cluster',
      `${found.join(', ')} ${found.length === 1 ? 'was' : 'were'} recorded beside some recordings, but not beside ${missing.join(', ')} (expected ${missing.filter((m) => m !== '-').map(recordedSnapshotPath).join(', ') || 'a file'}): give --cluster for all of them`,
    );
  }
  stderr.write(`using the cluster snapshot recorded beside the flows: ${found.join(', ')}\n`);
  return found;
}

/** diff without a cluster would see no pod at all and pass every flow: refuse instead. */
export function requireClusterForAudit(command: string): never {
  throw new InputError(
    '--cluster',
    `${command} needs the cluster the flows were recorded in: without one no endpoint is a known pod, so every flow would pass as "neither end is a pod". ` +
      'Give --cluster with a snapshot (`kubectl get namespaces,nodes,pods,services,endpointslices,networkpolicies,replicasets,deployments,statefulsets,daemonsets,jobs,cronjobs -A -o yaml > cluster.yaml`)' +
      `${command === 'diff' ? ', or --live' : ''}; a recording made by \`learn --local --record rec.jsonl\` has its own beside it (rec.cluster.yaml)`,
  );
}
