/**
 * Server-side apply of one NetworkPolicy, and reading one back, through @kubernetes/client-node's
 * KubernetesObjectApi (`patch` with PatchStrategy.ServerSideApply, `read`). Two things that client
 * library does on the way must not pass silently, and are handled here:
 *
 * - Its serializer writes the fields of its model under the model's names. An ingress rule's peers
 *   are `_from` in the model: a policy handed over with YAML's `from` loses its peers on the wire —
 *   and an ingress rule without peers allows every source. The policy is handed over in the model's
 *   shape (toClientModel), and answers come back in netpol's (normalizeIngressPeers).
 * - The same serializer drops every field its model does not have, so the API server's strict field
 *   validation (`fieldValidation=Strict`, still asked for: it catches fields the model has and the
 *   server does not) never sees a misspelt field. A request middleware compares the body client-node
 *   is about to send with the policy asked for, and refuses to send a body that lacks any of it
 *   (UnsentFieldsError, worded as the API server words it).
 */
import {
  ApiException,
  createConfiguration,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  type KubeConfig,
  type Middleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { EnvironmentError } from '../errors.js';
import { ApiStatusError, type ApiStatusCause } from './live.js';
import { normalizeIngressPeers, type V1NetworkPolicy } from './objects.js';

/** Fields of a policy that client-node would not have sent (see the header). */
export class UnsentFieldsError extends Error {
  constructor(readonly causes: ApiStatusCause[]) {
    super(causes.map((c) => `${c.field}: ${c.message}`).join('; '));
  }
}

/** `from` → `_from` in every ingress rule, on a copy: the shape client-node's serializer reads. */
function toClientModel(np: V1NetworkPolicy): V1NetworkPolicy {
  const copy = structuredClone(np);
  for (const rule of copy.spec?.ingress ?? []) {
    const r = rule as { _from?: unknown; from?: unknown };
    if (r.from !== undefined) r._from = r.from;
    delete r.from;
  }
  return copy;
}

/** Where `sent` lacks or alters what `intended` holds, as API field paths (`.spec.ingress[0].form`). */
export function unsentFields(intended: unknown, sent: unknown, path = ''): string[] {
  if (Array.isArray(intended)) {
    if (!Array.isArray(sent)) return [path];
    return intended.flatMap((v, i) => unsentFields(v, sent[i], `${path}[${i}]`));
  }
  if (intended !== null && typeof intended === 'object') {
    if (sent === null || typeof sent !== 'object' || Array.isArray(sent)) return [path];
    return Object.entries(intended).flatMap(([k, v]) =>
      v === undefined ? [] : k in sent ? unsentFields(v, (sent as Record<string, unknown>)[k], `${path}.${k}`) : [`${path}.${k}`],
    );
  }
  return intended === sent ? [] : [path];
}

/** Adds fieldValidation=Strict to the apply and checks that its body carries the whole policy. */
function strictApply(intended: V1NetworkPolicy): Middleware {
  return {
    async pre(ctx: RequestContext): Promise<RequestContext> {
      if (ctx.getHttpMethod() !== 'PATCH') return ctx; // the API discovery client-node does first
      ctx.setQueryParam('fieldValidation', 'Strict');
      const missing = unsentFields(intended, JSON.parse(String(ctx.getBody())));
      if (missing.length > 0) throw new UnsentFieldsError(missing.map((field) => ({ field, message: 'field not declared in schema' })));
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
function statusError(err: unknown, request: string): unknown {
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
}

/**
 * Server-side apply (force: netpol owns the fields it writes) of a policy in YAML's shape, with
 * apiVersion, kind, namespace and name; answers with the policy as the API server now has it.
 */
export async function serverSideApply(kc: KubeConfig, np: V1NetworkPolicy, opts: ServerSideApplyOptions): Promise<V1NetworkPolicy> {
  const api = objectApi(kc, [strictApply(np)]);
  try {
    const applied = await api.patch(toClientModel(np), undefined, opts.dryRun ? 'All' : undefined, opts.fieldManager, true, PatchStrategy.ServerSideApply);
    return normalizeIngressPeers(applied);
  } catch (err) {
    throw statusError(err, `PATCH networkpolicies ${np.metadata?.namespace}/${np.metadata?.name}`);
  }
}
