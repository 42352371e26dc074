/**
 * The node's protocol window across agent restarts (src/cluster/profile/observing.ts) and how a
 * merged profile's edges are judged against it (merge.ts udpUnobservedReason).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mergeProfiles } from '../../src/cluster/profile/merge.js';
import { ObservationLedger, type ProtocolState } from '../../src/cluster/profile/observing.js';
import { PROFILE_API_VERSION, PROFILE_KIND, type ProfileEdge, type ProtocolObservation, type TrafficProfile } from '../../src/cluster/profile/types.js';

const UDP: ProtocolState[] = [
  { protocol: 'TCP', observed: true },
  { protocol: 'UDP', observed: true },
];
const NO_UDP: ProtocolState[] = [
  { protocol: 'TCP', observed: true },
  { protocol: 'UDP', observed: false, problem: 'no CAP_NET_ADMIN' },
];
const T = (m: number) => new Date(Date.UTC(2026, 11, 6, 12, m));
const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'np-observing-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('ObservationLedger', () => {
  it('continues a window over restarts that keep observing, and restarts it after one that did not', () => {
    const d = dir();
    expect(ObservationLedger.open(d).settle(UDP, T(0))).toEqual([
      { protocol: 'TCP', since: T(0).toISOString() },
      { protocol: 'UDP', since: T(0).toISOString() },
    ]);
    expect(ObservationLedger.open(d).settle(UDP, T(5))[1]).toEqual({ protocol: 'UDP', since: T(0).toISOString() });
    expect(ObservationLedger.open(d).settle(NO_UDP, T(10))).toEqual([
      { protocol: 'TCP', since: T(0).toISOString() },
      { protocol: 'UDP', problem: 'no CAP_NET_ADMIN' },
    ]);
    expect(ObservationLedger.open(d).settle(UDP, T(15))[1]).toEqual({ protocol: 'UDP', since: T(15).toISOString() });
  });

  it('an agent that died before it attached breaks the window (its journal may hold unobserved connects)', () => {
    const d = dir();
    ObservationLedger.open(d).settle(UDP, T(0));
    ObservationLedger.open(d); // started, never settled
    expect(JSON.parse(readFileSync(join(d, 'observing.json'), 'utf8'))).toEqual({ starting: true });
    expect(ObservationLedger.open(d).settle(UDP, T(20))[1]).toEqual({ protocol: 'UDP', since: T(20).toISOString() });
  });

  it('a damaged state file or no directory starts a new window, never a longer one', () => {
    const d = dir();
    writeFileSync(join(d, 'observing.json'), '{"protocols":[{"protocol":"UDP","since":"not a time"}]');
    expect(ObservationLedger.open(d).settle(UDP, T(3))[1]).toEqual({ protocol: 'UDP', since: T(3).toISOString() });
    expect(ObservationLedger.open(undefined).settle(UDP, T(4))[1]).toEqual({ protocol: 'UDP', since: T(4).toISOString() });
  });
});

function profile(node: string, edges: ProfileEdge[], protocols?: ProtocolObservation[]): TrafficProfile {
  return {
    apiVersion: PROFILE_API_VERSION,
    kind: PROFILE_KIND,
    metadata: { name: `deployment.web.${node}`, namespace: 'shop' },
    spec: { workload: { namespace: 'shop', kind: 'Deployment', name: 'web', selector: { matchLabels: { app: 'web' } }, labels: { app: 'web' } }, node },
    status: { edges, edgeCount: edges.length, overflow: { edges: 0, connects: 0 }, expired: { edges: 0, connects: 0 }, journal: { id: '', seq: 0 }, lastWrite: T(30).toISOString(), ...(protocols ? { protocols } : {}) },
  };
}
const edge = (port: number, first: number): ProfileEdge => ({ peer: { address: '203.0.113.10' }, port, protocol: 'TCP', outcome: 'established', count: 1, firstSeen: T(first).toISOString(), lastSeen: T(first + 1).toISOString() });

describe('merged edges and the UDP window', () => {
  it('an edge is observed only when every node that saw it observed UDP since before it first saw it', () => {
    const since = (m: number): ProtocolObservation[] => [{ protocol: 'TCP', since: T(0).toISOString() }, { protocol: 'UDP', since: T(m).toISOString() }];
    const [merged] = mergeProfiles([
      profile('n1', [edge(80, 10), edge(81, 10), edge(82, 2)], since(5)),
      profile('n2', [edge(81, 10)], [{ protocol: 'UDP', problem: 'no CAP_NET_ADMIN' }]),
      profile('n3', [edge(83, 10)]),
    ]);
    const reasons = Object.fromEntries(merged!.edges.map((e) => [e.port, e.udpUnobserved]));
    expect(reasons[80]).toBeUndefined();
    expect(reasons[81]).toBe('node n2: its agent did not observe UDP (no CAP_NET_ADMIN)');
    expect(reasons[82]).toBe(`node n1: its agent observed UDP only since ${T(5).toISOString()}, after this workload's connects from ${T(2).toISOString()}`);
    expect(reasons[83]).toMatch(/^node n3: its agent did not record which protocols it observed/);
  });
});
