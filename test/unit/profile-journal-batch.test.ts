/**
 * The journal writes in batches: record() buffers, sync() writes every buffered line in one
 * write(2) (one write per connect was ~40 % of the agent's CPU in a connect storm). What sync() wrote
 * is read back by the next agent even when this one never closed the journal (a SIGKILL); what was
 * only buffered is not (its records are still in the pinned ring: the agent frees them only after
 * sync). The profile writer syncs at the end of the event-loop turn on its own.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/cluster/profile/journal.js';
import type { EdgeObservation, WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { ProfileWriter } from '../../src/cluster/profile/writer.js';

const owner: WorkloadIdentity = { namespace: 'a', kind: 'Deployment', name: 'x', selector: { matchLabels: { app: 'x' } }, labels: { app: 'x' } };
const edge = (port: number): EdgeObservation => ({ peer: { address: '203.0.113.10' }, port, protocol: 'TCP', outcome: 'established' });
const segmentText = (dir: string): string =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.ndjson'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('');

describe('journal batches', () => {
  it('writes nothing until sync(), then every buffered line; a journal never closed reads back what was synced', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-batch-'));
    const { journal } = Journal.open(dir);
    for (let i = 0; i < 100; i++) journal.record(owner, [edge(1000 + i)], '2026-12-06T10:00:00.000Z', { ring: 'boot:v1-aa:7', pos: 48 * (i + 1) });
    expect(segmentText(dir)).toBe('');
    expect(journal.dirty).toBe(true);
    journal.sync();
    expect(journal.dirty).toBe(false);
    expect(segmentText(dir).split('\n').filter((l) => l.includes('"c"'))).toHaveLength(100);
    // Buffered, never synced: as after a SIGKILL, the next open does not see it.
    journal.record(owner, [edge(2000)], '2026-12-06T10:00:01.000Z', { ring: 'boot:v1-aa:7', pos: 9999 });
    const next = Journal.open(dir);
    expect(next.replay.entries.map((e) => e.edge.port)).toEqual(Array.from({ length: 100 }, (_, i) => 1000 + i));
    expect(next.replay.mark).toEqual({ ring: 'boot:v1-aa:7', pos: 4800 });
    expect(next.replay.unreadable).toBe(0);
    next.journal.close();
  });

  it('compaction writes the buffer first: no connect counted twice on replay', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-batch-'));
    const { journal } = Journal.open(dir);
    journal.record(owner, [edge(80)], '2026-12-06T10:00:00.000Z');
    journal.compact([{ owner, edge: edge(80), count: 1, first: '2026-12-06T10:00:00.000Z', last: '2026-12-06T10:00:00.000Z', seq: 1 }]);
    journal.close();
    const next = Journal.open(dir);
    expect(next.replay.entries.map((e) => [e.edge.port, e.count])).toEqual([[80, 1]]);
    next.journal.close();
  });

  it('the profile writer writes a turn of accepted connects at the end of the turn, in one batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-batch-'));
    const kc = new KubeConfig();
    // Nothing listens there: writes to the API server fail and back off; the journal is what is tested.
    kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1', skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const writer = await ProfileWriter.start({ kc, node: 'n1', journalDir: dir, flushIntervalMs: 3_600_000 });
    for (let i = 0; i < 50; i++) writer.accept({ owner, edges: [edge(3000 + i)], time: '2026-12-06T10:00:00.000Z' });
    expect(segmentText(dir)).toBe('');
    await new Promise((r) => setImmediate(r));
    expect(segmentText(dir).split('\n').filter((l) => l.includes('"c"'))).toHaveLength(50);
    await writer.close(new Date(Date.now() + 100));
  });
});
