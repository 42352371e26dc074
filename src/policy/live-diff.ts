/**
 * The cluster side of `learn --apply` and `diff --live`:
 *
 *   applyPolicies   server-side dry-run of every policy first (nothing is written unless the API
 *                   server accepts all of them), then server-side apply with field manager
 *                   "netpol" (client-node's, through cluster/apply.ts); each result says created /
 *                   configured / unchanged with a diff.
 *   liveDiff        the cluster's NetworkPolicies against policy files, compared semantically
 *                   (./semantic-diff.ts).
 *
 * In src/policy, not src/cluster: both halves judge policies by their meaning (semantic diff,
 * describeChange), and src/cluster must not import src/policy.
 *
 * A rejection names the policy and the fields the API server complained about.
 */
import { createTwoFilesPatch } from 'diff/lib/patch/create.js'; // one module of diff, not all of it (CLI start-up)
import { stringify } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import { EnvironmentError, NetpolError } from '../errors.js';
import type { V1NetworkPolicy } from '../cluster/objects.js';
import { ApiStatusError, type ApiStatusCause } from '../cluster/live.js';
import { readPolicy, serverSideApply } from '../cluster/apply.js';
import { describeChange, normalizePolicy, semanticDiff, type SemanticDiff } from './semantic-diff.js';

export const FIELD_MANAGER = 'netpol';

/** The API server refused a policy (validation, admission): which one, and why, field by field. */
export class PolicyRejectedError extends NetpolError {
  constructor(
    readonly namespace: string,
    readonly policyName: string,
    readonly reason: string,
    readonly causes: ApiStatusCause[],
  ) {
    super(
      [
        `the API server rejected NetworkPolicy ${namespace}/${policyName}: ${reason}`,
        ...causes.map((c) => `  ${c.field ?? '(object)'}: ${c.message ?? c.reason ?? ''}`),
      ].join('\n'),
    );
  }
}

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ApplyOutcome {
  namespace: string;
  name: string;
  action: ApplyAction;
  /** Unified diff of the policy's YAML (labels, annotations, spec), cluster → applied. */
  diff: string;
  /** Semantic differences, one sentence each (empty for `unchanged`). */
  changes: string[];
}

export interface ApplyOptions {
  /** Stop after the server-side dry-run (nothing is written). */
  dryRun?: boolean;
  fieldManager?: string;
}

/** What a policy says, without the server's bookkeeping: what diffs are computed over. */
function comparable(np: V1NetworkPolicy | undefined): unknown {
  if (!np) return undefined;
  const annotations = { ...(np.metadata?.annotations ?? {}) };
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  return sortKeys({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: np.metadata?.name,
      namespace: np.metadata?.namespace,
      ...(np.metadata?.labels && Object.keys(np.metadata.labels).length > 0 ? { labels: np.metadata.labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: np.spec,
  });
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}

export function policyYaml(np: V1NetworkPolicy | undefined): string {
  return np ? stringify(comparable(np), { lineWidth: 0 }) : '';
}

function toApiError(err: unknown, namespace: string, name: string, server: string): Error {
  if (err instanceof ApiStatusError) {
    if (err.statusCode === 403 || err.statusCode === 401) {
      return new EnvironmentError(
        `not allowed to write NetworkPolicy ${namespace}/${name} at ${server}: ${err.reason}`,
        'netpol --apply needs the netpol-applier ClusterRole (deploy/rbac.yaml)',
      );
    }
    if (err.statusCode === 404 && /namespaces? .*not found/i.test(err.reason)) {
      return new PolicyRejectedError(namespace, name, `namespace ${namespace} does not exist`, []);
    }
    return new PolicyRejectedError(namespace, name, err.reason, err.causes);
  }
  const e = err as { code?: string; message?: string };
  if (e.code === 'ECONNREFUSED') return new EnvironmentError(`cannot reach the API server at ${server} (connection refused)`);
  return err as Error;
}

async function apply(kc: KubeConfig, np: V1NetworkPolicy, dryRun: boolean, fieldManager: string): Promise<V1NetworkPolicy> {
  return serverSideApply(kc, comparable(np) as V1NetworkPolicy, { dryRun, fieldManager });
}

/**
 * Validates every policy with a server-side dry-run, then (unless `dryRun`) applies them.
 * Throws PolicyRejectedError for the first policy the API server refuses, before writing anything.
 */
export async function applyPolicies(kc: KubeConfig, policies: V1NetworkPolicy[], opts: ApplyOptions = {}): Promise<ApplyOutcome[]> {
  const fieldManager = opts.fieldManager ?? FIELD_MANAGER;
  const server = kc.getCurrentCluster()?.server ?? '?';
  const planned: Array<{ np: V1NetworkPolicy; existing?: V1NetworkPolicy; result: V1NetworkPolicy }> = [];
  for (const np of policies) {
    const namespace = np.metadata?.namespace ?? 'default';
    const name = np.metadata?.name ?? '';
    try {
      const existing = await readPolicy(kc, namespace, name);
      const result = await apply(kc, np, true, fieldManager);
      planned.push({ np, existing, result });
    } catch (err) {
      throw toApiError(err, namespace, name, server);
    }
  }
  const outcomes: ApplyOutcome[] = [];
  for (const { np, existing, result: dryResult } of planned) {
    const namespace = np.metadata?.namespace ?? 'default';
    const name = np.metadata?.name ?? '';
    let result = dryResult;
    if (!opts.dryRun) {
      try {
        result = await apply(kc, np, false, fieldManager);
      } catch (err) {
        throw toApiError(err, namespace, name, server);
      }
    }
    const before = policyYaml(existing);
    const after = policyYaml(result);
    const action: ApplyAction = !existing ? 'created' : before === after ? 'unchanged' : 'configured';
    outcomes.push({
      namespace,
      name,
      action,
      diff: action === 'unchanged' ? '' : createTwoFilesPatch(`cluster/${namespace}/${name}`, `applied/${namespace}/${name}`, before, after, '', '', { context: 3 }),
      changes: existing ? describeChange(normalizePolicy(existing), normalizePolicy(result)) : describeChange(normalizePolicy({ metadata: { namespace, name } }), normalizePolicy(result)),
    });
  }
  return outcomes;
}

/** `learn --apply`'s report: one line per policy, then the diffs. */
export function formatApplyOutcomes(outcomes: ApplyOutcome[], dryRun: boolean): string {
  const suffix = dryRun ? ' (server dry run)' : '';
  const lines = outcomes.map((o) => `networkpolicy.networking.k8s.io/${o.name} ${o.action}${suffix}  (namespace ${o.namespace})`);
  const diffs = outcomes.filter((o) => o.diff !== '').map((o) => o.diff.trimEnd());
  return [...lines, ...diffs].join('\n') + '\n';
}

export interface LiveDiffOptions {
  /** Compare every namespace of the cluster; default: only namespaces the files have policies in. */
  allNamespaces?: boolean;
}

export interface LiveDiffResult extends SemanticDiff {
  /** The namespaces compared. */
  namespaces: string[] | 'all';
}

/** The cluster's policies (before) against the files' (after): added = only in files, removed = only in the cluster. */
export function liveDiff(clusterPolicies: V1NetworkPolicy[], filePolicies: V1NetworkPolicy[], opts: LiveDiffOptions = {}): LiveDiffResult {
  const namespaces = opts.allNamespaces ? undefined : new Set(filePolicies.map((np) => np.metadata?.namespace ?? 'default'));
  const cluster = namespaces ? clusterPolicies.filter((np) => namespaces.has(np.metadata?.namespace ?? 'default')) : clusterPolicies;
  return { ...semanticDiff(cluster, filePolicies), namespaces: namespaces ? [...namespaces].sort() : 'all' };
}
