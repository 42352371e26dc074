/**
 * The snapshot ClusterView: objects read from `kubectl get namespaces,pods,services,endpointslices,
 * networkpolicies,... -A -o yaml` output or any multi-document YAML of those kinds.
 */
import { InputError } from '../errors.js';
import { buildIndex, type ClusterIndex } from './lookup.js';
import { emptyClusterObjects, normalizeIngressPeers, OWNER_KINDS, type ClusterObjects } from './objects.js';
import type { ClusterView } from './view.js';
import { checkSnapshotObject } from './snapshot-shape.js';
import { withLocatedObjects, type LocatedObject } from './yaml-documents.js';

/** Kinds a snapshot may hold that netpol has no use for; they are accepted and ignored, by name. */
const IGNORED_KINDS = new Set(['Endpoints', 'ConfigMap', 'Secret', 'ServiceAccount', 'Event', 'ControllerRevision', 'Kustomization']);

function requireMetadata(located: LocatedObject): void {
  const meta = located.object.metadata as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== 'object' || typeof meta.name !== 'string' || meta.name === '') {
    throw new InputError(located.file, `${String(located.object.kind)} without metadata.name`, located.line, 'metadata.name');
  }
}

export interface SnapshotOptions {
  /**
   * Checks each NetworkPolicy where it is read (file, line, field). The validator lives in the
   * policy layer, which the cluster layer does not import: the CLI passes it. Without it a
   * wrongly typed policy in a snapshot (`ingress: [[...]]`) would be judged as whatever it reads as.
   */
  checkNetworkPolicy?: (located: LocatedObject) => void;
}

/**
 * The list of ClusterObjects each kind (other than NetworkPolicy) goes to. A Map, not an object:
 * a kind is input, and may be named `constructor` or `__proto__`.
 */
const LIST_OF_KIND = new Map<string, keyof ClusterObjects>([
  ['Namespace', 'namespaces'],
  ['Pod', 'pods'],
  ['Service', 'services'],
  ['EndpointSlice', 'endpointSlices'],
  ['Node', 'nodes'],
  ...OWNER_KINDS.map((k): [string, keyof ClusterObjects] => [k, 'owners']),
]);

/** Sorts located objects into ClusterObjects; unknown kinds are an error so a typo is not silently dropped. */
export function collectObjects(located: LocatedObject[], into: ClusterObjects = emptyClusterObjects(), options: SnapshotOptions = {}): ClusterObjects {
  for (const item of located) {
    const kind = item.object.kind as string;
    if (IGNORED_KINDS.has(kind)) continue;
    requireMetadata(item);
    checkSnapshotObject(item, (OWNER_KINDS as readonly string[]).includes(kind));
    const obj = item.object as never;
    if (kind === 'NetworkPolicy') {
      options.checkNetworkPolicy?.(item);
      into.networkPolicies.push(normalizeIngressPeers(obj));
      continue;
    }
    const list = LIST_OF_KIND.get(kind);
    if (!list) {
      throw new InputError(
        item.file,
        `unsupported kind ${kind} in a cluster snapshot (expected Namespace, Pod, Service, EndpointSlice, NetworkPolicy, Node, ${OWNER_KINDS.join(', ')})`,
        item.line,
        'kind',
      );
    }
    (into[list] as unknown[]).push(obj);
  }
  return into;
}

/** Defaults kubectl output always has but hand-written fixtures may omit. */
function normalize(objects: ClusterObjects): ClusterObjects {
  for (const list of [objects.pods, objects.services, objects.endpointSlices, objects.networkPolicies, objects.owners]) {
    for (const o of list as { metadata?: { namespace?: string } }[]) {
      if (o.metadata && !o.metadata.namespace) o.metadata.namespace = 'default';
    }
  }
  return objects;
}

export function loadSnapshot(files: string[], options: SnapshotOptions = {}): ClusterObjects {
  const objects = emptyClusterObjects();
  for (const file of files) {
    // collectObjects appends: collect each file apart so a retry with line numbers starts clean.
    const part = withLocatedObjects(file, (located) => collectObjects(located, emptyClusterObjects(), options));
    for (const key of Object.keys(objects) as (keyof ClusterObjects)[]) (objects[key] as unknown[]).push(...part[key]);
  }
  return normalize(objects);
}

export class SnapshotView implements ClusterView {
  readonly description: string;
  private readonly data: ClusterObjects;
  private cached?: ClusterIndex;

  constructor(files: string[], objects?: ClusterObjects, options: SnapshotOptions = {}) {
    this.description = files.length > 0 ? `snapshot ${files.join(', ')}` : 'empty cluster';
    this.data = objects ?? loadSnapshot(files, options);
  }

  objects(): ClusterObjects {
    return this.data;
  }

  index(): ClusterIndex {
    this.cached ??= buildIndex(this.data);
    return this.cached;
  }

  async close(): Promise<void> {}
}
