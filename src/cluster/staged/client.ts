/**
 * StagedNetworkPolicies through the API server: list, get, apply (server-side, field manager
 * "netpol"), delete, the agents' per-node status apply, and a watch that survives API server
 * restarts (as the live view's do). Errors say what to do: a missing CRD names the file that
 * installs it, a 403 names the role that grants it.
 */
import { CustomObjectsApi, ListWatch, PatchStrategy, setHeaderOptions, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { EnvironmentError, NetpolError } from '../../errors.js';
import { statusError } from '../apply.js';
import { ApiStatusError, rawRequest, type ApiStatusCause } from '../live.js';
import { RestartingInformer } from '../restarting-informer.js';
import { STAGED_API_VERSION, STAGED_GROUP, STAGED_KIND, STAGED_PLURAL, STAGED_RESOURCE, STAGED_VERSION, stagedKey, type NodeEvidence, type StagedNetworkPolicy, type StagedStatus } from './types.js';

export const STAGE_FIELD_MANAGER = 'netpol';
/** Each node's agent owns its own status.nodes[] entry under this manager. */
export const agentFieldManager = (node: string): string => `netpol-agent/${node}`;

const base = `/apis/${STAGED_API_VERSION}`;
export function stagedPath(namespace?: string, name?: string): string {
  if (namespace === undefined) return `${base}/${STAGED_PLURAL}`;
  const collection = `${base}/namespaces/${encodeURIComponent(namespace)}/${STAGED_PLURAL}`;
  return name === undefined ? collection : `${collection}/${encodeURIComponent(name)}`;
}

/**
 * Server-side apply goes through client-node's CustomObjectsApi: it sends a custom resource's body
 * as given (no model to drop fields) and reaches the status subresource, which KubernetesObjectApi
 * does not; the generated client offers JSON/merge patch content types, so the apply one is set.
 */
const SERVER_SIDE_APPLY = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
const customObjects = (kc: KubeConfig): CustomObjectsApi => kc.makeApiClient(CustomObjectsApi);
const objectRef = (namespace: string, name: string) => ({ group: STAGED_GROUP, version: STAGED_VERSION, plural: STAGED_PLURAL, namespace, name });

/** The API server refused a staged policy: which one, and the fields it named. */
export class StagedRejectedError extends NetpolError {
  constructor(key: string, reason: string, causes: ApiStatusCause[]) {
    super([`the API server rejected StagedNetworkPolicy ${key}: ${reason}`, ...causes.map((c) => `  ${c.field ?? '(object)'}: ${c.message ?? c.reason ?? ''}`)].join('\n'));
  }
}

/** What an API error means for staged policies, in words a user can act on. */
export const USER_ROLE_HINT = 'staging needs the netpol-staged-edit ClusterRole (deploy/base/rbac-staged.yaml; aggregated into edit/admin)';
export const AGENT_ROLE_HINT = "the agent's live judge needs the netpol-agent-staged ClusterRole bound to its ServiceAccount (deploy/base/rbac-staged.yaml)";

export function stagedApiError(err: unknown, what: string, kc: KubeConfig, roleHint = USER_ROLE_HINT): Error {
  const server = kc.getCurrentCluster()?.server ?? '?';
  if (err instanceof ApiStatusError) {
    if (err.statusCode === 404 && !isObjectNotFound(err)) {
      return new EnvironmentError(
        `${what}: the StagedNetworkPolicy CRD (${STAGED_RESOURCE}) is not installed at ${server}`,
        'kubectl apply -f deploy/crds/stagednetworkpolicies.yaml',
      );
    }
    if (err.statusCode === 401 || err.statusCode === 403) {
      return new EnvironmentError(`${what}: not allowed at ${server}: ${err.reason}`, roleHint);
    }
  }
  const e = err as { code?: string };
  if (e.code === 'ECONNREFUSED') return new EnvironmentError(`${what}: cannot reach the API server at ${server} (connection refused)`);
  return err as Error;
}

/** A 404 about the object (`… "name" not found`), not about the resource type (CRD missing: "404 page not found"). */
function isObjectNotFound(err: unknown): boolean {
  return err instanceof ApiStatusError && err.statusCode === 404 && /" not found/.test(err.reason);
}

export async function listStaged(kc: KubeConfig, namespace?: string): Promise<StagedNetworkPolicy[]> {
  const items: StagedNetworkPolicy[] = [];
  let cont = '';
  do {
    const page = (await rawRequest(kc, `${stagedPath(namespace)}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)) as {
      items?: StagedNetworkPolicy[];
      metadata?: { continue?: string };
    };
    for (const item of page.items ?? []) items.push(stamp(item));
    cont = page.metadata?.continue ?? '';
  } while (cont);
  return items.sort((a, b) => (stagedKey(a) < stagedKey(b) ? -1 : stagedKey(a) > stagedKey(b) ? 1 : 0));
}

export async function getStaged(kc: KubeConfig, namespace: string, name: string): Promise<StagedNetworkPolicy | undefined> {
  try {
    return stamp((await rawRequest(kc, stagedPath(namespace, name))) as StagedNetworkPolicy);
  } catch (err) {
    if (isObjectNotFound(err)) return undefined;
    throw err;
  }
}

/** Server-side apply of a staged policy's spec, labels and annotations (validated strictly). */
export async function applyStaged(kc: KubeConfig, staged: StagedNetworkPolicy, opts: { dryRun?: boolean } = {}): Promise<StagedNetworkPolicy> {
  const namespace = staged.metadata?.namespace ?? 'default';
  const name = staged.metadata?.name ?? '';
  const body = { apiVersion: STAGED_API_VERSION, kind: STAGED_KIND, metadata: { ...staged.metadata, namespace, name }, spec: staged.spec };
  try {
    const applied = await customObjects(kc)
      .patchNamespacedCustomObject(
        { ...objectRef(namespace, name), body, fieldManager: STAGE_FIELD_MANAGER, force: true, fieldValidation: 'Strict', dryRun: opts.dryRun ? 'All' : undefined },
        SERVER_SIDE_APPLY,
      )
      .catch((err: unknown) => Promise.reject(statusError(err, `PATCH ${stagedPath(namespace, name)}`)));
    return stamp(applied as StagedNetworkPolicy);
  } catch (err) {
    if (isRejection(err)) throw new StagedRejectedError(`${namespace}/${name}`, err.reason, err.causes);
    throw err;
  }
}

/**
 * The API server refused the object itself: invalid (422), malformed (400), or — its answer to an
 * apply that creates an object with a field the schema does not declare — 500 "failed to create
 * typed patch object (…): .spec.x: field not declared in schema".
 */
function isRejection(err: unknown): err is ApiStatusError {
  if (!(err instanceof ApiStatusError)) return false;
  return err.statusCode === 422 || err.statusCode === 400 || (err.statusCode === 500 && /^failed to create typed patch object/.test(err.reason));
}

/** Deletes a staged policy; false when it was not there. */
export async function deleteStaged(kc: KubeConfig, namespace: string, name: string, opts: { resourceVersion?: string } = {}): Promise<boolean> {
  try {
    const body = opts.resourceVersion ? { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: opts.resourceVersion } } : undefined;
    await rawRequest(kc, stagedPath(namespace, name), { method: 'DELETE', ...(body ? { body } : {}) });
    return true;
  } catch (err) {
    if (isObjectNotFound(err)) return false;
    throw err;
  }
}

/**
 * One node's evidence (and the summary beside it) through the status subresource: server-side
 * apply with this node's own field manager, so the entry keyed by this node is this agent's and no
 * other agent's apply touches it. `force` because the summary fields are shared by every agent.
 */
export async function applyNodeEvidence(
  kc: KubeConfig,
  key: { namespace: string; name: string },
  entry: NodeEvidence,
  summary: Pick<StagedStatus, 'wouldDeny' | 'lastSeen'>,
): Promise<StagedNetworkPolicy> {
  const body = {
    apiVersion: STAGED_API_VERSION,
    kind: STAGED_KIND,
    metadata: { namespace: key.namespace, name: key.name },
    status: { ...summary, nodes: [entry] },
  };
  const applied = await customObjects(kc)
    .patchNamespacedCustomObjectStatus({ ...objectRef(key.namespace, key.name), body, fieldManager: agentFieldManager(entry.node), force: true }, SERVER_SIDE_APPLY)
    .catch((err: unknown) => Promise.reject(statusError(err, `PATCH ${stagedPath(key.namespace, key.name)}/status`)));
  return stamp(applied as StagedNetworkPolicy);
}

function stamp<T extends StagedNetworkPolicy>(obj: T): T {
  obj.apiVersion ??= STAGED_API_VERSION;
  obj.kind ??= STAGED_KIND;
  return obj;
}

/**
 * Every staged policy of the cluster, kept current by a watch; restarts after errors with backoff
 * (250 ms doubling to 2 s), as the live view's watches do.
 */
export class StagedWatch extends RestartingInformer<StagedNetworkPolicy> {
  lastError?: string;

  constructor(private readonly kc: KubeConfig) {
    super(2_000);
  }

  protected onError(err: unknown): void {
    this.lastError = (err as Error)?.message ?? String(err);
  }

  /** Lists once (throws what stagedApiError says when it cannot), then watches. */
  async start(): Promise<void> {
    // A start after a failed one (the judge retries until the CRD or its RBAC is there): the
    // shared informer stops the one before.
    const informer = new ListWatch<KubernetesObject>(
      stagedPath(),
      new Watch(this.kc),
      async () => {
        const items = await listStaged(this.kc);
        return { metadata: {}, items: items as KubernetesObject[] } as never;
      },
      false,
    );
    const first = await this.watch(informer);
    if (first !== undefined && this.list().length === 0) {
      const err = stagedApiError(first, 'cannot watch staged policies', this.kc, AGENT_ROLE_HINT);
      await this.close();
      throw err;
    }
  }

  /** A counter that changes whenever a staged policy does (for caches). */
  get version(): number {
    return this.changes;
  }
}
