// ClusterIndex lookups that take shortcuts for speed (src/cluster/lookup.ts): they must answer exactly
// what a plain scan would.
import { describe, expect, it } from 'vitest';
import { buildIndex } from '../../src/cluster/lookup.js';
import { makeCluster, makeNamespace, makePod, makeService } from './support/cluster-factory.js';

describe('ClusterIndex shortcuts', () => {
  it('finds pods by namespace and name, and nothing across namespaces', () => {
    const pods = [makePod({ name: 'web', namespace: 'a', ip: '10.0.0.1' }), makePod({ name: 'web', namespace: 'b', ip: '10.0.0.2' })];
    const index = buildIndex(makeCluster({ namespaces: [makeNamespace('a'), makeNamespace('b')], pods }));
    expect(index.pod('a', 'web')).toBe(pods[0]);
    expect(index.pod('b', 'web')).toBe(pods[1]);
    expect(index.pod('c', 'web')).toBeUndefined();
    expect(index.pod('a', 'db')).toBeUndefined();
  });

  it('answers names that would share a `namespace/name` key the way it always did', () => {
    const pods = [makePod({ name: 'c', namespace: 'a/b', ip: '10.0.0.1' }), makePod({ name: 'b/c', namespace: 'a', ip: '10.0.0.2' })];
    const index = buildIndex(makeCluster({ pods }));
    // One key `a/b/c` for both: the later pod wins, for either spelling.
    expect(index.pod('a/b', 'c')).toBe(pods[1]);
    expect(index.pod('a', 'b/c')).toBe(pods[1]);
  });

  it('selects Service backends by labels in pod order, within the Service namespace only', () => {
    const pods = [
      makePod({ name: 'w2', namespace: 'a', labels: { app: 'web', tier: 'x' }, ip: '10.0.0.2' }),
      makePod({ name: 'other', namespace: 'b', labels: { app: 'web', tier: 'x' }, ip: '10.0.1.1' }),
      makePod({ name: 'w1', namespace: 'a', labels: { app: 'web', tier: 'x' }, ip: '10.0.0.1' }),
      makePod({ name: 'half', namespace: 'a', labels: { app: 'web' }, ip: '10.0.0.3' }),
      makePod({ name: 'db', namespace: 'a', labels: { app: 'db', tier: 'x' }, ip: '10.0.0.4' }),
    ];
    const svc = makeService({ name: 'web', namespace: 'a', selector: { app: 'web', tier: 'x' }, clusterIP: '10.96.0.1', ports: [{ port: 80, targetPort: 8080 }] });
    const index = buildIndex(makeCluster({ namespaces: [makeNamespace('a'), makeNamespace('b')], pods, services: [svc] }));
    const backends = index.serviceBackends(svc, index.servicePort(svc, 80, 'TCP')!);
    expect(backends.map((b) => [b.pod?.metadata?.name, b.ip, b.port])).toEqual([
      ['w2', '10.0.0.2', 8080],
      ['w1', '10.0.0.1', 8080],
    ]);
  });
});
