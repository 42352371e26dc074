/**
 * The profile writer while the API server cannot be reached (connection refused on loopback):
 * it backs off, keeps every accepted connect in its backlog and journal, and keeps the journal
 * bounded by compacting it even while backing off. Nothing is lost: a fresh journal replay holds
 * every connect.
 */
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/cluster/profile/journal.js';
import type { WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { ProfileWriter } from '../../src/cluster/profile/writer.js';

function unreachable(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  return kc;
}

describe('profile writer without an API server', () => {
  it('backs off, loses nothing, and compacts its journal while backing off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-offline-'));
    const w = await ProfileWriter.start({ kc: unreachable(), node: 'n1', journalDir: dir, flushIntervalMs: 0, gcIntervalMs: 0, journalRotateBytes: 16 << 10 });
    const owner: WorkloadIdentity = { namespace: 'a', kind: 'Deployment', name: 'x', selector: { matchLabels: { app: 'x' } }, labels: { app: 'x' } };
    let accepted = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1000; i++) {
        w.accept({ owner, edges: [{ peer: { address: '203.0.113.10' }, port: 80 + (i % 10), protocol: 'TCP', outcome: 'established' }], time: new Date().toISOString() });
        accepted++;
      }
      // The first flush fails; later ones, within the backoff, return without a request.
      if (round === 0) await expect(w.flush()).rejects.toThrow(/ECONNREFUSED/);
      else await expect(w.flush()).resolves.toBeUndefined();
    }
    const segments = readdirSync(dir).filter((f) => f.startsWith('seg-'));
    const bytes = segments.reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    // 5,000 connects are ≈ 250 KB of journal lines; compacted, a few KB (10 pending edges).
    expect(bytes).toBeLessThan(64 << 10);
    expect(w.status()).toMatchObject({ observed: accepted, lost: 0, backlog: 10 });
    expect(w.status().retried as number).toBeGreaterThan(0);
    await w.close(new Date());
    const { replay } = Journal.open(dir);
    expect(replay.entries.reduce((n, e) => n + e.count, 0)).toBe(accepted);
    expect(replay.unreadable).toBe(0);
  });
});
