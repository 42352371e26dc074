/**
 * The TrafficProfile CRD as the API-server suites (k8s-*.test.ts) install it, and the workload
 * identity they write profiles for.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiStatusError, rawRequest } from '../../../src/cluster/live.js';
import { profilesServed } from '../../../src/cluster/profile/client.js';
import type { WorkloadIdentity } from '../../../src/cluster/profile/types.js';
import { ROOT } from '../../support/cli.js';

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ProfileCrd = { metadata: { name: string }; spec: { versions: Array<{ schema: { openAPIV3Schema: any } }> } };

/** The CRD as deploy/crds has it, or (`older`) as it was before status.protocols. */
export function profileCrdDocument(older = false): ProfileCrd {
  const crd = parseAllDocuments(readFileSync(join(ROOT, 'deploy/crds/trafficprofiles.yaml'), 'utf8'))[0]!.toJS() as ProfileCrd;
  if (older) delete crd.spec.versions[0]!.schema.openAPIV3Schema.properties.status.properties.protocols;
  return crd;
}

/**
 * Installs the CRD (by default deploy/crds' own) and waits until TrafficProfiles are served. Suites
 * share one API server, so the CRD may be there already: kept as it is, unless `replace` (a suite
 * that tests a schema makes the one it tests current).
 */
export async function installProfileCrd(kc: KubeConfig, opts: { crd?: ProfileCrd; replace?: boolean } = {}): Promise<void> {
  const crd = opts.crd ?? profileCrdDocument();
  let replaced = false;
  try {
    await rawRequest(kc, CRD_PATH, { method: 'POST', body: crd });
  } catch (err) {
    if (!(err instanceof ApiStatusError && err.statusCode === 409)) throw err;
    if (opts.replace) {
      const current = (await rawRequest(kc, `${CRD_PATH}/${crd.metadata.name}`)) as { metadata: { resourceVersion: string } };
      await rawRequest(kc, `${CRD_PATH}/${crd.metadata.name}`, {
        method: 'PUT',
        body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata.resourceVersion } },
      });
      replaced = true;
    }
  }
  for (let i = 0; i < 100 && !(await profilesServed(kc)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await profilesServed(kc))) throw new Error(`${crd.metadata.name} not served 10 s after it was installed`);
  // The API server applies a changed schema shortly after the update is stored.
  if (replaced) await new Promise((r) => setTimeout(r, 1000));
}

/** A Deployment's identity as the agent derives it (selector and labels app=NAME). */
export function deploymentOwner(namespace: string, name: string): WorkloadIdentity {
  return { namespace, kind: 'Deployment', name, selector: { matchLabels: { app: name } }, labels: { app: name } };
}
