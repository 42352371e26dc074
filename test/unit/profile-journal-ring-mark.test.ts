/**
 * The journal's ring mark: each connect read from a pinned ring is journaled with its record's end
 * in the ring, and the next agent reads back the last one (to skip records already journaled when
 * a SIGKILL came between the journal write and the ring's consumer position). It survives
 * compaction, and a ring change (new "r" line) is followed.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/cluster/profile/journal.js';
import type { EdgeObservation, WorkloadIdentity } from '../../src/cluster/profile/types.js';

const owner: WorkloadIdentity = { namespace: 'a', kind: 'Deployment', name: 'x', selector: { matchLabels: { app: 'x' } }, labels: { app: 'x' } };
const edge = (port: number): EdgeObservation => ({ peer: { address: '203.0.113.10' }, port, protocol: 'TCP', outcome: 'established' });

describe('journal ring mark', () => {
  it('reads back the last ring position journaled, across reopen and compaction', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tp-mark-'));
    const { journal, replay } = Journal.open(dir);
    expect(replay.mark).toBeUndefined();
    journal.record(owner, [edge(80)], '2026-12-06T10:00:00.000Z', { ring: 'boot:v1-aa:7', pos: 48 });
    journal.record(owner, [edge(81)], '2026-12-06T10:00:01.000Z'); // not from a pinned ring
    journal.record(owner, [edge(82)], '2026-12-06T10:00:02.000Z', { ring: 'boot:v1-aa:7', pos: 144 });
    journal.close();
    const second = Journal.open(dir);
    expect(second.replay.mark).toEqual({ ring: 'boot:v1-aa:7', pos: 144 });
    expect(second.replay.entries.map((e) => e.edge.port)).toEqual([80, 81, 82]);
    expect(second.replay.unreadable).toBe(0);
    // A new ring (another boot, or the pins replaced): its own positions.
    second.journal.record(owner, [edge(83)], '2026-12-06T10:00:03.000Z', { ring: 'boot:v1-bb:9', pos: 40 });
    // Compaction keeps only what is not yet written, and the mark.
    second.journal.compact([]);
    second.journal.close();
    const third = Journal.open(dir);
    expect(third.replay.mark).toEqual({ ring: 'boot:v1-bb:9', pos: 40 });
    expect(third.replay.entries).toEqual([]);
    third.journal.close();
  });
});
