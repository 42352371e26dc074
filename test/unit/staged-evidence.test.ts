// The evidence model of staged policies (src/cluster/staged/evidence.ts): exact counts with bounded
// examples, the summary, and promote's question (quiet within the window, and the window covered).
import { describe, expect, it } from 'vitest';
import { entryForStatus, newNodeEvidence, quietFor, recordDenial, summarize, type DenialObservation } from '../../src/cluster/staged/evidence.js';
import { MAX_EXAMPLES, type NodeEvidence, type StagedNetworkPolicy } from '../../src/cluster/staged/types.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const obs = (peer: string, minutes: number, gate: 'egress' | 'ingress' = 'egress'): DenialObservation => ({
  source: 'shop/Deployment/web',
  peer,
  port: Number(peer.split(':').pop()),
  protocol: 'TCP',
  gate,
  at: at(minutes),
});

function staged(nodes: NodeEvidence[], generation = 2): StagedNetworkPolicy {
  return { metadata: { name: 'web', namespace: 'shop', generation }, spec: { podSelector: {} }, status: { nodes } };
}

describe('node evidence', () => {
  it('counts every connect exactly and keeps distinct flows, evicting the least recently seen past the bound', () => {
    let e = newNodeEvidence('n1', 2, at(0));
    for (let i = 0; i < MAX_EXAMPLES + 5; i++) e = recordDenial(e, obs(`r/203.0.113.${i}:80`, i));
    e = recordDenial(e, obs(`r/203.0.113.${MAX_EXAMPLES + 4}:80`, 100));
    expect(e.wouldDeny).toBe(MAX_EXAMPLES + 6);
    expect(e.examples).toHaveLength(MAX_EXAMPLES);
    expect(e.examplesOmitted).toBe(5);
    // The oldest five flows went; the repeated one counts twice and is listed first (most recent).
    expect(entryForStatus(e).examples![0]).toMatchObject({ peer: `r/203.0.113.${MAX_EXAMPLES + 4}:80`, count: 2, firstSeen: at(MAX_EXAMPLES + 4).toISOString(), lastSeen: at(100).toISOString() });
    expect(e.examples!.some((x) => x.peer === 'r/203.0.113.4:80')).toBe(false);
    expect(e.firstSeen).toBe(at(0).toISOString());
    expect(e.lastSeen).toBe(at(100).toISOString());
  });

  it('summarizes only entries of the current generation', () => {
    const old: NodeEvidence = { node: 'n0', observedGeneration: 1, wouldDeny: 50, lastSeen: at(500).toISOString() };
    const n1 = recordDenial(newNodeEvidence('n1', 2, at(0)), obs('r/203.0.113.1:80', 10));
    const n2 = recordDenial(recordDenial(newNodeEvidence('n2', 2, at(0)), obs('r/203.0.113.2:80', 20)), obs('r/203.0.113.2:80', 30));
    expect(summarize(staged([old, n1, n2]))).toEqual({ wouldDeny: 3, lastSeen: at(30).toISOString() });
  });
});

describe("promote's question", () => {
  const now = at(24 * 60 + 60); // 25 h after T0
  const day = 24 * 3600_000;

  it('refuses while a would-be-denied connect is in the window, naming the flow and its node', () => {
    const n1 = recordDenial(newNodeEvidence('n1', 2, at(0)), obs('r/203.0.113.1:80', 24 * 60 + 30));
    const n2 = newNodeEvidence('n2', 2, at(0));
    const v = quietFor(staged([n1, n2]), now, day);
    expect(v.quiet).toBe(false);
    expect(v.flows).toEqual([expect.objectContaining({ node: 'n1', peer: 'r/203.0.113.1:80', gate: 'egress', count: 1 })]);
    expect(v.reasons.join(' ')).toMatch(/within the window/);
    expect(v.nodes).toEqual(['n1', 'n2']);
  });

  it('passes when the last would-be-denied connect is older than the window and the evidence covers it', () => {
    const n1 = recordDenial(newNodeEvidence('n1', 2, at(0)), obs('r/203.0.113.1:80', 30));
    const v = quietFor(staged([n1]), now, day);
    expect(v).toMatchObject({ quiet: true, reasons: [], flows: [], wouldDeny: 1 });
    // Without a window, any would-be-denied connect since staging refuses.
    expect(quietFor(staged([n1]), now).quiet).toBe(false);
  });

  it('refuses when no node has judged the window (staged too recently) or no agent judged it at all', () => {
    const young = newNodeEvidence('n1', 2, at(24 * 60));
    expect(quietFor(staged([young]), now, day).reasons.join(' ')).toMatch(/does not cover the window/);
    expect(quietFor(staged([young]), now, 30 * 60_000).quiet).toBe(true);
    expect(quietFor(staged([]), now, day).reasons.join(' ')).toMatch(/no agent has judged/);
  });

  it('ignores evidence about an earlier generation of the spec', () => {
    const stale = recordDenial({ ...newNodeEvidence('n1', 1, at(0)) }, obs('r/203.0.113.1:80', 24 * 60 + 50));
    const fresh = newNodeEvidence('n2', 2, at(0));
    const v = quietFor(staged([stale, fresh]), now, day);
    expect(v).toMatchObject({ quiet: true, nodes: ['n2'], wouldDeny: 0 });
  });

  it('counts connects of flows evicted from the bounded examples as unlisted', () => {
    let e = newNodeEvidence('n1', 2, at(0));
    for (let i = 0; i < MAX_EXAMPLES + 3; i++) e = recordDenial(e, obs(`r/203.0.113.${i}:80`, 24 * 60 + 10 + i));
    const v = quietFor(staged([e]), now, day);
    expect(v.flows).toHaveLength(MAX_EXAMPLES);
    expect(v.unlisted).toBe(3);
  });
});
