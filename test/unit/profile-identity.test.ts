/**
 * Traffic profiles without an API server: a connect's identity (taken from the synthesizer's own
 * resolution), merging nodes' shares, retention, object names, the journal's replay and
 * compaction, and learning from profiles giving the policies `learn --flows` gives.
 */
import { appendFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildIndex } from '../../src/cluster/lookup.js';
import { observationOf } from '../../src/cluster/profile/identity.js';
import { Journal } from '../../src/cluster/profile/journal.js';
import { addEdge, expireEdges, mergeProfiles } from '../../src/cluster/profile/merge.js';
import { filterSince } from '../../src/cluster/profile/reader.js';
import { summarizeProfiles } from '../../src/cluster/profile/summary.js';
import { edgeKey, profileName, labelValue, type ProfileEdge, type ProfileObservation, type TrafficProfile, type WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { loadSnapshot } from '../../src/cluster/snapshot.js';
import { readAllFlows } from '../../src/flows/jsonl.js';
import { learnFromFlows, learnFromResolved } from '../../src/policy/learn.js';
import { profileLearnEdges } from '../../src/policy/profile-edges.js';
import { renderPolicies } from '../../src/policy/render.js';
import { resolveFlow } from '../../src/policy/traffic.js';

const DEMO = resolve(import.meta.dirname, '../../fixtures/demo');
const index = buildIndex(loadSnapshot([join(DEMO, 'cluster.yaml')]));

async function demoObservations(): Promise<ProfileObservation[]> {
  const flows = await readAllFlows([join(DEMO, 'flows.jsonl')]);
  return flows.map((f) => observationOf(resolveFlow(f, index), f.ts!)!);
}

/** What the writers of the nodes would store, as objects (one per workload and node). */
function objectsFrom(observations: { node: string; obs: ProfileObservation }[]): TrafficProfile[] {
  const shares = new Map<string, { owner: WorkloadIdentity; node: string; table: Map<string, ProfileEdge> }>();
  for (const { node, obs } of observations) {
    const name = profileName(obs.owner, node);
    let s = shares.get(name);
    if (!s) shares.set(name, (s = { owner: obs.owner, node, table: new Map() }));
    for (const e of obs.edges) addEdge(s.table, e, 1, obs.time, obs.time);
  }
  return [...shares].map(([name, s]) => ({
    apiVersion: 'netpol.io/v1alpha1',
    kind: 'TrafficProfile',
    metadata: { name, namespace: s.owner.namespace },
    spec: { workload: s.owner, node: s.node },
    status: {
      edges: [...s.table.values()],
      edgeCount: s.table.size,
      overflow: { edges: 0, connects: 0 },
      expired: { edges: 0, connects: 0 },
      journal: { id: '', seq: 0 },
      lastWrite: '2026-11-24T10:01:00Z',
    },
  }));
}

describe('identity of a connect', () => {
  it('names the source by its workload and a Service connect by the backing workload on the targetPort', async () => {
    const obs = await demoObservations();
    const web = obs.filter((o) => o.owner.name === 'web');
    expect(web).toHaveLength(6);
    // Two different pods of the Deployment: one identity, free of pod-template-hash.
    expect(new Set(web.map((o) => JSON.stringify(o.owner))).size).toBe(1);
    expect(web[0]!.owner).toEqual({ namespace: 'shop', kind: 'Deployment', name: 'web', selector: { matchLabels: { app: 'web', tier: 'frontend' } }, labels: { app: 'web', tier: 'frontend' } });
    const edge = web[0]!.edges[0]!;
    expect(edge.via).toMatchObject({ namespace: 'shop', name: 'api', port: 80 });
    expect('workload' in edge.peer && edge.peer.workload).toMatchObject({ namespace: 'shop', kind: 'Deployment', name: 'api' });
    expect(edge.outcome).toBe('established');
    // An outside address stays an address.
    const mypod = obs.filter((o) => o.owner.name === 'mypod');
    expect(mypod.map((o) => o.edges[0]!.peer)).toEqual([{ address: '1.1.1.1' }, { address: '1.1.1.1' }]);
  });

  it('keeps a connect to a Service without backends against the Service, with the reason', () => {
    const obs = observationOf(
      {
        src: { kind: 'pod', namespace: 'a', labels: { app: 'x', 'pod-template-hash': '1' }, pod: { metadata: {} }, workload: { kind: 'Deployment', namespace: 'a', name: 'x', selector: { matchLabels: { app: 'x' } } } },
        service: { namespace: 'a', name: 'empty', port: 80, selectorless: false },
        targets: [],
        problem: 'service a/empty port 80 has no backends',
        flow: { proto: 'TCP', dst: { port: 80 }, outcome: 'refused' },
      },
      '2026-12-01T00:00:00Z',
    )!;
    expect(obs.owner.labels).toEqual({ app: 'x' });
    expect(obs.edges).toEqual([{ peer: { service: { namespace: 'a', name: 'empty' }, problem: 'service a/empty port 80 has no backends' }, via: { namespace: 'a', name: 'empty', port: 80 }, port: 80, protocol: 'TCP', outcome: 'refused' }]);
  });
});

describe('merging nodes', () => {
  it('adds counts, keeps the earliest first and latest last seen, and unites nodes', async () => {
    const obs = await demoObservations();
    const objects = objectsFrom(obs.map((o, i) => ({ node: i % 2 === 0 ? 'n1' : 'n2', obs: o })));
    const merged = mergeProfiles(objects);
    const web = merged.find((p) => p.workload.name === 'web')!;
    expect(web.nodes).toEqual(['n1', 'n2']);
    expect(web.edges).toHaveLength(1);
    expect(web.edges[0]).toMatchObject({ count: 6, nodes: ['n1', 'n2'], firstSeen: obs.find((o) => o.owner.name === 'web')!.time });
    const total = merged.reduce((n, p) => n + p.edges.reduce((m, e) => m + e.count, 0), 0);
    expect(total).toBe(obs.reduce((n, o) => n + o.edges.length, 0));
    const summary = summarizeProfiles(objects);
    expect(summary).toMatchObject({ count: objects.length, workloads: 3, nodes: 2 });
    expect(summary.perNamespace.shop!.count).toBe(4);
  });

  it('orders first and last seen by every fraction digit and across offsets (flows/timestamp.ts), not by Date.parse milliseconds', () => {
    const table = new Map<string, ProfileEdge>();
    const e = { peer: { address: '203.0.113.10' }, port: 80, protocol: 'TCP' as const, outcome: 'established' as const };
    // Both stamps fall in the same millisecond for Date.parse; the second is 10 µs earlier.
    addEdge(table, e, 1, '2026-11-24T10:00:00.0002Z', '2026-11-24T10:00:00.0002Z');
    addEdge(table, e, 1, '2026-11-24T10:00:00.00019Z', '2026-11-24T10:00:00.00021Z');
    // One hour later, written with an offset: the later last seen although it sorts first as text.
    addEdge(table, e, 1, '2026-11-24T12:00:00+01:00', '2026-11-24T12:30:00+01:00');
    expect([...table.values()][0]).toMatchObject({ count: 3, firstSeen: '2026-11-24T10:00:00.00019Z', lastSeen: '2026-11-24T12:30:00+01:00' });
  });

  it('retention and --since remove old edges and count them', () => {
    const table = new Map<string, ProfileEdge>();
    const e = { peer: { address: '203.0.113.10' }, port: 80, protocol: 'TCP' as const, outcome: 'established' as const };
    addEdge(table, e, 3, '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z');
    addEdge(table, { ...e, port: 443 }, 2, '2026-11-01T00:00:00Z', '2026-11-20T00:00:00Z');
    expect(expireEdges(table, Date.parse('2026-11-10T00:00:00Z'))).toEqual({ edges: 1, connects: 3 });
    expect([...table.keys()]).toEqual([edgeKey({ ...e, port: 443 })]);
    const merged = [{ workload: { namespace: 'a', kind: 'Pod', name: 'p', selector: {}, labels: {} }, edges: [...table.values()], nodes: [], overflow: { edges: 0, connects: 0 }, expired: { edges: 0, connects: 0 }, objects: [] }];
    expect(filterSince(merged, Date.parse('2026-11-21T00:00:00Z')).older).toEqual({ edges: 1, connects: 2 });
  });

  it('names objects as DNS subdomains, unique even when shortened', () => {
    expect(profileName({ kind: 'Deployment', name: 'web' }, 'node-1')).toBe('deployment.web.node-1');
    const long = 'x'.repeat(250);
    const a = profileName({ kind: 'Deployment', name: long }, 'n1');
    const b = profileName({ kind: 'Deployment', name: long }, 'n2');
    expect(a.length).toBeLessThanOrEqual(253);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/);
    expect(labelValue('a'.repeat(80))).toHaveLength(61);
    expect(labelValue('ok-name')).toBe('ok-name');
  });
});

describe('journal', () => {
  const owner: WorkloadIdentity = { namespace: 'a', kind: 'Deployment', name: 'x', selector: { matchLabels: { app: 'x' } }, labels: { app: 'x' } };
  const edge = { peer: { address: '203.0.113.10' }, port: 80, protocol: 'TCP' as const, outcome: 'established' as const };

  it('replays every recorded connect with its sequence number, and counts a torn last line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netpol-journal-'));
    const { journal } = Journal.open(dir);
    for (let i = 0; i < 5; i++) journal.record(owner, [edge, { ...edge, port: 443 }], `2026-12-01T00:00:0${i}Z`);
    journal.close();
    const seg = readdirSync(dir).find((f) => f.startsWith('seg-'))!;
    appendFileSync(join(dir, seg), '{"c":[0],"s":6,'); // killed mid-write
    const { journal: again, replay } = Journal.open(dir);
    expect(replay.entries).toHaveLength(10);
    expect(replay.entries.map((e) => e.seq)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    expect(replay.unreadable).toBe(1);
    // Numbering continues after the highest replayed number.
    expect(again.record(owner, [edge], '2026-12-01T00:00:09Z')).toBe(6);
    again.close();
  });

  it('compaction keeps only what is pending and bounds the journal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netpol-journal-'));
    const { journal } = Journal.open(dir);
    for (let i = 0; i < 1000; i++) journal.record(owner, [edge], '2026-12-01T00:00:00Z');
    const before = journal.size;
    journal.compact([{ owner, edge, count: 400, first: '2026-12-01T00:00:00Z', last: '2026-12-01T00:00:00Z', seq: 1000 }]);
    expect(journal.size).toBeLessThan(before / 20);
    journal.record(owner, [edge], '2026-12-01T00:00:01Z');
    journal.close();
    writeFileSync(join(dir, 'unrelated.txt'), 'x');
    const { replay } = Journal.open(dir);
    expect(replay.entries.map((e) => [e.count, e.seq])).toEqual([
      [400, 1000],
      [1, 1001],
    ]);
    expect(replay.unreadable).toBe(0);
  });
});

describe('learning from profiles', () => {
  it('gives the same policies as learn --flows on the same recording', async () => {
    const obs = await demoObservations();
    const objects = objectsFrom(obs.map((o, i) => ({ node: i % 3 === 0 ? 'n1' : 'n2', obs: o })));
    const fromFlows = await learnFromFlows(await readAllFlows([join(DEMO, 'flows.jsonl')]), index, {});
    const pe = profileLearnEdges(mergeProfiles(objects), index);
    const fromProfiles = learnFromResolved(pe.edges, pe.connects, pe.unanswered, index, {});
    expect(fromFlows.result.policies.length).toBeGreaterThanOrEqual(2);
    expect(renderPolicies(fromProfiles.result.policies.map((p) => p.policy))).toBe(renderPolicies(fromFlows.result.policies.map((p) => p.policy)));
    expect(fromProfiles.result.policies.map((p) => p.path)).toEqual(fromFlows.result.policies.map((p) => p.path));
  });

  it('still learns a workload whose pods a rollout replaced (identity fixed at connect time)', async () => {
    const obs = await demoObservations();
    const objects = objectsFrom(obs.map((o) => ({ node: 'n1', obs: o })));
    // The cluster now: web's pods gone and replaced by pods of a new revision.
    const now = loadSnapshot([join(DEMO, 'cluster.yaml')]);
    now.pods = now.pods.filter((p) => !p.metadata?.name?.startsWith('web-'));
    const later = buildIndex(now);
    const pe = profileLearnEdges(mergeProfiles(objects), later);
    const out = learnFromResolved(pe.edges, pe.connects, pe.unanswered, later, {});
    const web = out.result.policies.find((p) => p.workload.name === 'web');
    expect(web?.policy.spec?.podSelector).toEqual({ matchLabels: { app: 'web', tier: 'frontend' } });
    expect(JSON.stringify(web?.policy.spec?.egress)).toContain('"app":"api"');
  });
});

describe('the profile sink settings', () => {
  it('reads the agent environment, and names a bad variable', async () => {
    const { profileWriterOptions } = await import('../../src/daemon/profile-sink.js');
    const ctx = { node: 'n1' } as Parameters<typeof profileWriterOptions>[0];
    const saved = { ...process.env };
    try {
      process.env.NETPOL_PROFILE_RETENTION = '3d';
      process.env.NETPOL_PROFILE_FLUSH = '10s';
      delete process.env.NETPOL_PROFILE_DIR;
      expect(profileWriterOptions(ctx)).toMatchObject({ node: 'n1', journalDir: '/var/lib/netpol/n1/profile', retentionMs: 3 * 86_400_000, flushIntervalMs: 10_000, maxEdges: 1000 });
      process.env.NETPOL_PROFILE_RETENTION = 'two weeks';
      expect(() => profileWriterOptions(ctx)).toThrow(/NETPOL_PROFILE_RETENTION.*not a duration/);
      process.env.NETPOL_PROFILE_RETENTION = '14d';
      process.env.NETPOL_PROFILE_MAX_EDGES = '0';
      expect(() => profileWriterOptions(ctx)).toThrow(/NETPOL_PROFILE_MAX_EDGES.*positive integer/);
    } finally {
      process.env = saved;
    }
  });
});
