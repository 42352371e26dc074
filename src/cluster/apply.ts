/**
 * Server-side apply through @kubernetes/client-node's KubernetesObjectApi (`patch` with
 * PatchStrategy.ServerSideApply; `read`): NetworkPolicies (learn --apply) and any object in the
 * shape YAML gives it (the deploy base: built-in kinds and CRDs). Two things that client library
 * does on the way must not pass silently, and are handled here:
 *
 * - Its serializer writes the fields of its model under the model's names and drops every field
 *   the model does not have. YAML's names are not always the model's: an ingress rule's peers are
 *   `from` in YAML and `_from` in the model (an ingress rule without peers allows every source), a
 *   CRD's schema says `default`, `enum`, `x-kubernetes-preserve-unknown-fields` where the model says
 *   `_default`, `_enum`, `xKubernetesPreserveUnknownFields`. A request middleware replaces the body
 *   client-node made with the object as it was handed over (JSON), so the API server gets every
 *   field under the name YAML gives it.
 * - So the API server's strict field validation (`fieldValidation=Strict`, which the middleware adds
 *   to every apply) sees a misspelt field and refuses it (`.spec.ingress[0].form: field not declared
 *   in schema`) instead of the serializer dropping it unseen.
 *
 * Answers come back through the model: a NetworkPolicy's peers as `_from` (normalizeIngressPeers).
 */
import {
  ApiException,
  createConfiguration,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  type KubeConfig,
  type KubernetesObject,
  type Middleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { EnvironmentError } from '../errors.js';
import { ApiStatusError, type ApiStatusCause } from './live.js';
import { normalizeIngressPeers, type V1NetworkPolicy } from './objects.js';

/** Sends `object` itself as the apply's body (not client-node's serialization of it), validated strictly. */
function verbatimApply(object: KubernetesObject): Middleware {
  return {
    async pre(ctx: RequestContext): Promise<RequestContext> {
      if (ctx.getHttpMethod() !== 'PATCH') return ctx; // the API discovery client-node does first
      ctx.setQueryParam('fieldValidation', 'Strict');
      ctx.setBody(JSON.stringify(object)); // as client-node completed it (apiVersion, metadata.namespace)
      return ctx;
    },
    post: (ctx: ResponseContext) => Promise.resolve(ctx),
  };
}

function objectApi(kc: KubeConfig, middleware: Middleware[] = []): KubernetesObjectApi {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new EnvironmentError('no current cluster in the kubeconfig');
  return new KubernetesObjectApi(createConfiguration({ baseServer: new ServerConfiguration(server, {}), authMethods: { default: kc }, promiseMiddleware: middleware }));
}

/** client-node's ApiException as the ApiStatusError rawRequest throws (status, message, failing fields). */
export function statusError(err: unknown, request: string): unknown {
  if (!(err instanceof ApiException)) return err;
  let body: unknown = err.body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text);
    } catch {
      return new ApiStatusError(err.code, request, text.trim().slice(0, 300));
    }
  }
  const status = body as { message?: string; details?: { causes?: ApiStatusCause[] } } | undefined;
  return new ApiStatusError(err.code, request, status?.message ?? '', status?.details?.causes ?? []);
}

const header = (namespace: string, name: string) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name } });

/** The policy as the cluster has it, or undefined when there is none. */
export async function readPolicy(kc: KubeConfig, namespace: string, name: string): Promise<V1NetworkPolicy | undefined> {
  try {
    return normalizeIngressPeers(await objectApi(kc).read<V1NetworkPolicy>(header(namespace, name)));
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw statusError(err, `GET networkpolicies ${namespace}/${name}`);
  }
}

export interface ServerSideApplyOptions {
  dryRun: boolean;
  fieldManager: string;
  /** Take over fields another manager owns (default true: netpol owns the fields it writes). */
  force?: boolean;
}

/**
 * Server-side apply of one object in YAML's shape, with apiVersion, kind, name (and namespace when
 * namespaced); answers with the object as the API server now has it, read through client-node's model.
 * Errors are ApiStatusErrors naming `what`.
 */
export async function applyObject<T extends KubernetesObject>(kc: KubeConfig, object: T, opts: ServerSideApplyOptions, what: string): Promise<T> {
  // client-node completes the object it is given (apiVersion, the default namespace): a copy.
  const copy = structuredClone(object);
  const api = objectApi(kc, [verbatimApply(copy)]);
  try {
    return await api.patch(copy, undefined, opts.dryRun ? 'All' : undefined, opts.fieldManager, opts.force ?? true, PatchStrategy.ServerSideApply);
  } catch (err) {
    throw statusError(err, `PATCH ${what}`);
  }
}

/**
 * Server-side apply (force: netpol owns the fields it writes) of a policy in YAML's shape, with
 * apiVersion, kind, namespace and name; answers with the policy as the API server now has it.
 */
export async function serverSideApply(kc: KubeConfig, np: V1NetworkPolicy, opts: ServerSideApplyOptions): Promise<V1NetworkPolicy> {
  return normalizeIngressPeers(await applyObject(kc, np, opts, `networkpolicies ${np.metadata?.namespace}/${np.metadata?.name}`));
}
