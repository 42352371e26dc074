/**
 * The profile writer takes a workload's new labels or selector from the next connect (the share's
 * owner is replaced and written at the next flush), and keeps the share's owner when they are the
 * same in new objects (every connect brings new ones): shareOf compares them per connect without
 * serializing them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { ProfileWriter } from '../../src/cluster/profile/writer.js';

function unreachable(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  return kc;
}

describe('profile writer: a workload\'s labels and selector', () => {
  it('replaces the share\'s owner when its labels or selector change, not when equal ones come in new objects', async () => {
    const w = await ProfileWriter.start({ kc: unreachable(), node: 'n1', journalDir: mkdtempSync(join(tmpdir(), 'tp-owner-')), flushIntervalMs: 0, gcIntervalMs: 0 });
    const shares = (w as unknown as { shares: Map<string, { owner: WorkloadIdentity; urgent: boolean }> }).shares;
    const owner = (labels: Record<string, string>, selector = { matchLabels: { app: 'x' } }): WorkloadIdentity => ({ namespace: 'a', kind: 'Deployment', name: 'x', selector, labels });
    const accept = (o: WorkloadIdentity): void =>
      w.accept({ owner: o, edges: [{ peer: { address: '203.0.113.10' }, port: 80, protocol: 'TCP', outcome: 'established' }], time: new Date().toISOString() });
    const first = owner({ app: 'x', tier: 'web' });
    accept(first);
    const share = [...shares.values()][0]!;
    share.urgent = false;
    accept(owner({ app: 'x', tier: 'web' }));
    expect(share.owner).toBe(first);
    expect(share.urgent).toBe(false);
    accept(owner({ app: 'x', tier: 'api' }));
    expect(share.owner.labels).toEqual({ app: 'x', tier: 'api' });
    expect(share.urgent).toBe(true);
    share.urgent = false;
    accept(owner({ app: 'x' , tier: 'api', extra: '1' }));
    expect(share.owner.labels).toEqual({ app: 'x', tier: 'api', extra: '1' });
    share.urgent = false;
    accept(owner({ app: 'x', tier: 'api', extra: '1' }, { matchLabels: { app: 'y' } }));
    expect(share.owner.selector).toEqual({ matchLabels: { app: 'y' } });
    expect(share.urgent).toBe(true);
    expect(shares.size).toBe(1);
    await w.close(new Date());
  });
});
