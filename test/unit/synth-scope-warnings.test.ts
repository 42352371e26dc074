// Warnings that keep learning honest about what the recording could not show.
import { describe, expect, it } from 'vitest';
import { buildIndex } from '../../src/cluster/lookup.js';
import { synthesize } from '../../src/policy/synthesize/index.js';
import { resolveFlow } from '../../src/policy/traffic.js';
import * as f from './support/synth-factory.js';

describe('workloads seen only as destinations', () => {
  const web = f.deployment('web', { namespace: 'shop', labels: { app: 'web' }, pods: [{ ip: '10.0.1.1' }] });
  const db = f.deployment('db', { namespace: 'shop', labels: { app: 'db' }, pods: [{ ip: '10.0.1.2' }] });
  const index = f.cluster(web, db);

  it('get a policy (egress isolated) and a warning that says why that may be wrong', () => {
    const result = synthesize(f.edges(index, [f.flow(`shop/${web.pods[0]!.metadata!.name}`, '10.0.1.2', 5432)]), index, {});
    expect(result.policies.map((p) => p.path)).toEqual(['shop/db.yaml', 'shop/web.yaml']);
    expect(result.warnings).toEqual([
      'Deployment shop/db was seen only as a destination: its policy allows no egress but DNS; if the recording did not trace its pods, leave it out of scope (-l/-n)',
    ]);
  });

  it('are not warned about once out of scope', () => {
    const result = synthesize(f.edges(index, [f.flow(`shop/${web.pods[0]!.metadata!.name}`, '10.0.1.2', 5432)]), index, {
      scope: (pod) => pod.metadata?.labels?.app === 'web',
    });
    expect(result.policies.map((p) => p.path)).toEqual(['shop/web.yaml']);
    expect(result.warnings).toEqual([]);
  });
});

describe('EndpointSlices without targetRef', () => {
  it('still resolve Service backends to the pods by address, so peers become selectors', () => {
    const client = f.pod('client', { labels: { run: 'client' }, ip: '10.0.1.9' });
    const api = f.deployment('api', { namespace: 'default', labels: { app: 'api' }, pods: [{ ip: '10.0.1.20' }] });
    const svc = f.service('api', { namespace: 'default', selector: { app: 'api' }, clusterIP: '10.96.0.40', ports: [{ port: 80, targetPort: 8080 }] });
    const objects = f.objects({ pods: [client] }, api, { services: [svc] });
    objects.endpointSlices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      addressType: 'IPv4',
      metadata: { name: 'api-x', namespace: 'default', labels: { 'kubernetes.io/service-name': 'api' } },
      endpoints: [{ addresses: ['10.0.1.20'] }],
      ports: [{ port: 8080, protocol: 'TCP' }],
    });
    const index = buildIndex(objects);
    const resolved = resolveFlow(f.flow('default/client', '10.96.0.40', 80), index);
    expect(resolved.targets.map((t) => [t.dst.kind, t.dst.kind === 'pod' ? t.dst.workload.name : t.dst.ip, t.port])).toEqual([['pod', 'api', 8080]]);
  });
});
