/**
 * Every TrafficProfile in scope, kept current by a list and a watch (client-node's ListWatch), for
 * `learn --watch`: the cluster-wide profile as the agents write it. Lists cluster-wide, or one
 * namespace when the caller may only list there (said through `narrowedTo`, as learn -A says it).
 * A watch that breaks is restarted with backoff (250 ms doubling to 5 s) and the error kept for the
 * screen; a first list that fails is an error naming what is missing (the CRD, or RBAC).
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { EnvironmentError } from '../../errors.js';
import { ApiStatusError, rawRequest } from '../live.js';
import { RestartingInformer } from '../restarting-informer.js';
import { PROFILE_CRD_NAME, PROFILE_GROUP, PROFILE_PLURAL, PROFILE_VERSION, type TrafficProfile } from './types.js';

function profilesPath(namespace?: string): string {
  const base = `/apis/${PROFILE_GROUP}/${PROFILE_VERSION}`;
  return namespace === undefined ? `${base}/${PROFILE_PLURAL}` : `${base}/namespaces/${encodeURIComponent(namespace)}/${PROFILE_PLURAL}`;
}

const RBAC_HINT = `learn --watch needs list and watch on ${PROFILE_CRD_NAME} (cluster-wide, or in the namespace learned); see deploy/rbac.yaml`;

/** The error a failed list or watch of profiles becomes: what is missing, said plainly. */
export function profileWatchError(err: unknown, kc: KubeConfig, what: string): Error {
  const server = kc.getCurrentCluster()?.server ?? '?';
  const status = err instanceof ApiStatusError ? err.statusCode : (err as { statusCode?: number; code?: number })?.statusCode ?? (err as { code?: number })?.code;
  const reason = err instanceof ApiStatusError ? err.reason : (err as Error)?.message ?? String(err);
  if (status === 401 || status === 403) return new EnvironmentError(`${what}: not allowed at ${server}: ${reason}`, RBAC_HINT);
  if (status === 404) {
    return new EnvironmentError(`${what}: the API server at ${server} serves no TrafficProfiles (${PROFILE_CRD_NAME})`, 'install the agents (kubectl netpol deploy)');
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** All pages of a list, and the resourceVersion of the whole (where the watch starts). */
async function listPaged(kc: KubeConfig, namespace: string | undefined): Promise<{ items: TrafficProfile[]; resourceVersion?: string }> {
  const items: TrafficProfile[] = [];
  let cont = '';
  let resourceVersion: string | undefined;
  do {
    const q = new URLSearchParams({ limit: '500' });
    if (cont) q.set('continue', cont);
    const page = (await rawRequest(kc, `${profilesPath(namespace)}?${q}`, { timeoutMs: 60_000 })) as {
      items?: TrafficProfile[];
      metadata?: { continue?: string; resourceVersion?: string };
    };
    for (const item of page.items ?? []) items.push(item);
    resourceVersion ??= page.metadata?.resourceVersion;
    cont = page.metadata?.continue ?? '';
  } while (cont);
  return { items, ...(resourceVersion ? { resourceVersion } : {}) };
}

export class ProfileWatch extends RestartingInformer<TrafficProfile> {
  /** Set when only this namespace's profiles could be listed. */
  narrowedTo?: string;
  /** The last watch error, while it is being retried; cleared when a list succeeds again. */
  lastError?: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly fallbackNamespace?: string,
  ) {
    super(5_000);
  }

  protected onError(err: unknown): void {
    this.lastError = profileWatchError(err, this.kc, 'watching TrafficProfiles').message;
    this.notify();
  }

  /** Lists (cluster-wide, else the fallback namespace), then watches; throws when neither can be listed. */
  async start(): Promise<void> {
    let namespace: string | undefined;
    try {
      // Whether the caller may list cluster-wide: one object's worth, the informer lists the rest.
      await rawRequest(this.kc, `${profilesPath()}?limit=1`, { timeoutMs: 30_000 });
    } catch (err) {
      if (!(err instanceof ApiStatusError && err.statusCode === 403 && this.fallbackNamespace)) throw profileWatchError(err, this.kc, 'cannot list TrafficProfiles');
      namespace = this.fallbackNamespace;
      this.narrowedTo = namespace;
      try {
        await rawRequest(this.kc, `${profilesPath(namespace)}?limit=1`, { timeoutMs: 30_000 });
      } catch (inNamespace) {
        throw profileWatchError(inNamespace, this.kc, 'cannot list TrafficProfiles');
      }
    }
    const informer = new ListWatch<KubernetesObject>(
      profilesPath(namespace),
      new Watch(this.kc),
      async () => {
        const list = await listPaged(this.kc, namespace);
        this.lastError = undefined;
        return { metadata: list.resourceVersion ? { resourceVersion: list.resourceVersion } : {}, items: list.items as KubernetesObject[] } as never;
      },
      false,
    );
    const first = await this.watch(informer);
    if (first !== undefined) {
      await this.close();
      throw profileWatchError(first, this.kc, 'cannot watch TrafficProfiles');
    }
  }
}
