/**
 * netpol's CustomResourceDefinitions (deploy/crds) in the test cluster, as the suites that use
 * StagedNetworkPolicies or TrafficProfiles need them, and the shipped RBAC for staged policies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { rawRequest } from '../../../src/cluster/live.js';
import type { TestCluster } from './cluster.js';

const repo = new URL('../../..', import.meta.url).pathname;

export type NetpolCrd = 'stagednetworkpolicies' | 'trafficprofiles';

/** The CRD document of deploy/crds/NAME.yaml. */
export function crdDocument(name: NetpolCrd): Record<string, unknown> {
  return parse(readFileSync(join(repo, 'deploy/crds', `${name}.yaml`), 'utf8')) as Record<string, unknown>;
}

/** deploy/base/rbac-staged.yaml's documents (the ClusterRole and ClusterRoleBinding the agent gets). */
export const stagedRbacDocs = parseAllDocuments(readFileSync(join(repo, 'deploy/base/rbac-staged.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string } });

/**
 * Creates the CRDs (another suite of the run may have made them: 409 is fine) and waits until each
 * serves lists, at most 20 s.
 */
export async function installCrds(c: TestCluster, names: NetpolCrd[]): Promise<void> {
  for (const name of names) {
    await rawRequest(c.kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { method: 'POST', body: crdDocument(name) }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 409) throw err;
    });
  }
  for (let i = 0; i < 200; i++) {
    const served = await Promise.all(names.map((name) => rawRequest(c.kc, `/apis/netpol.io/v1alpha1/${name}`))).then(
      () => true,
      () => false,
    );
    if (served) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the CRDs ${names.join(', ')} did not become established`);
}
