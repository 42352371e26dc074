// netpol's NetworkPolicy validation (src/policy/validate.ts) agrees with the real API server: every
// case netpol accepts, a server-side dry-run create with strict field validation accepts, and every
// case netpol rejects, the server rejects. The cases are the unit test's
// (test/unit/support/policy-validation-cases.ts), so a new unit case is checked against the server too.
import { beforeAll, describe, expect, it } from 'vitest';
import { ApiStatusError, rawRequest } from '../../src/cluster/live.js';
import { networkPolicyProblems } from '../../src/policy/validate.js';
import { bad, base, good, type Obj } from '../unit/support/policy-validation-cases.js';
import { createNamespace, ensureCluster, type TestCluster } from './support/cluster.js';

let cluster: TestCluster;
let namespace: string;

beforeAll(async () => {
  cluster = await ensureCluster();
  namespace = await createNamespace(cluster, 'validate');
});

/** What `kubectl create --dry-run=server` does with the object: undefined when accepted, else the server's message. */
async function serverVerdict(obj: Obj): Promise<string | undefined> {
  const body = structuredClone(obj);
  // Each case runs in the test's own namespace unless the case is about the namespace itself.
  const ns = typeof body.metadata?.namespace === 'string' && body.metadata.namespace !== 'default' ? body.metadata.namespace : namespace;
  if (body.metadata && typeof body.metadata === 'object' && body.metadata.namespace === 'default') body.metadata.namespace = namespace;
  try {
    await rawRequest(cluster.kc, `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/networkpolicies?dryRun=All&fieldValidation=Strict`, {
      method: 'POST',
      body,
    });
    return undefined;
  } catch (err) {
    if (err instanceof ApiStatusError) return `HTTP ${err.statusCode}: ${err.reason}`;
    throw err;
  }
}

describe('validation parity with kube-apiserver', () => {
  it('the base policy is accepted by both', async () => {
    expect(networkPolicyProblems(base())).toEqual([]);
    expect(await serverVerdict(base())).toBeUndefined();
  });

  for (const g of good) {
    it(`both accept: ${g.name}`, async () => {
      const o = base();
      g.mutate(o);
      expect(networkPolicyProblems(o)).toEqual([]);
      expect(await serverVerdict(o)).toBeUndefined();
    });
  }

  for (const b of bad) {
    it(`both reject: ${b.name}`, async () => {
      const o = base();
      b.mutate(o);
      expect(networkPolicyProblems(o).length).toBeGreaterThan(0);
      const verdict = await serverVerdict(o);
      // Where kubectl, not the server, refuses: the server takes it (so the case stays honest).
      if (b.kubectlOnly) expect(verdict).toBeUndefined();
      else expect(verdict).toMatch(/^HTTP 4\d\d: /);
    });
  }
});
