/**
 * TrafficProfiles against a real API server (test/cluster/): the CRD from deploy/crds, the real
 * writer (as the agents of several simulated nodes run it) and the real reader.
 *   - two nodes write one workload's profile: nothing conflicts, counts add up on both sides, and
 *     the API server's own request counter shows the writes stay within the bound
 *   - the size bound: what does not fit is in status.overflow and learn says so
 *   - retention removes old edges (counted) and deletes an emptied profile
 *   - the API server stopped and started mid-learning: every accepted connect is in the profiles
 *     or counted as lost (and none is lost)
 *   - a writer SIGKILLed with unwritten connects: the next one replays its journal, counting
 *     each connect exactly once
 *   - learning from the profiles gives the policies `learn --flows` gives for the same recording
 */
import { spawn } from 'node:child_process';
import https, { type RequestOptions } from 'node:https';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { learnFromProfiles } from '../../src/cli/commands/learn/profiles.js';
import { rawRequest } from '../../src/cluster/live.js';
import { buildIndex } from '../../src/cluster/lookup.js';
import { listProfiles, profilesServed } from '../../src/cluster/profile/client.js';
import { observationOf } from '../../src/cluster/profile/identity.js';
import { mergeProfiles } from '../../src/cluster/profile/merge.js';
import { readProfiles } from '../../src/cluster/profile/reader.js';
import { profileSummary } from '../../src/cluster/profile/summary.js';
import { PROFILE_API_VERSION, PROFILE_KIND, profileLabels, profileName, type ProfileObservation, type WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { ProfileWriter } from '../../src/cluster/profile/writer.js';
import { loadSnapshot } from '../../src/cluster/snapshot.js';
import { readAllFlows } from '../../src/flows/jsonl.js';
import { learnFromFlows, learnFromResolved } from '../../src/policy/learn.js';
import { profileLearnEdges } from '../../src/policy/profile-edges.js';
import { renderPolicies } from '../../src/policy/render.js';
import { resolveFlow } from '../../src/policy/traffic.js';
import { ensureBuilt, netpol, ROOT } from '../support/cli.js';
import { createNamespace, ensureCluster, startApiserver, stopApiserver, type TestCluster } from './support/cluster.js';
import { deploymentOwner, installProfileCrd } from './support/profiles.js';
import { TextSink } from '../support/text-sink.js';

const DEMO = resolve(ROOT, 'fixtures/demo');
let c: TestCluster;


function obs(o: WorkloadIdentity, port: number, time = new Date().toISOString(), address = '203.0.113.10'): ProfileObservation {
  return { owner: o, edges: [{ peer: { address }, port, protocol: 'TCP', outcome: 'established' }], time };
}

/** Sum of the connects in a namespace's profiles, and the merged profiles. */
async function countIn(namespace: string): Promise<{ connects: number; objects: number; merged: ReturnType<typeof mergeProfiles> }> {
  const objects = await listProfiles(c.kc, { namespace });
  const merged = mergeProfiles(objects);
  return { connects: merged.reduce((n, p) => n + p.edges.reduce((m, e) => m + e.count, 0), 0), objects: objects.length, merged };
}

/** The API server's own count of write requests to trafficprofiles (its /metrics). */
async function serverWrites(): Promise<number> {
  return serverRequests(/verb="(APPLY|PATCH|CREATE|UPDATE|DELETE)"/);
}

/** The API server's own count of requests to trafficprofiles whose metric line matches `verb` (its /metrics). */
async function serverRequests(verb: RegExp): Promise<number> {
  const url = new URL(c.server + '/metrics');
  const opts: RequestOptions = { method: 'GET' };
  await c.kc.applyToHTTPSOptions(opts);
  const text = await new Promise<string>((res, rej) => {
    https
      .get(url, opts, (r) => {
        let body = '';
        r.on('data', (d: Buffer) => (body += d.toString()));
        r.on('end', () => res(body));
      })
      .on('error', rej);
  });
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{') || !line.includes('resource="trafficprofiles"')) continue;
    if (!verb.test(line)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

beforeAll(async () => {
  c = await ensureCluster();
  await installProfileCrd(c.kc);
});

afterAll(async () => {
  // The CRD goes (its objects with it): later suites of the run see a cluster without profiles.
  await rawRequest(c.kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/trafficprofiles.netpol.io', { method: 'DELETE' }).catch(() => {});
  for (let i = 0; i < 100 && (await profilesServed(c.kc).catch(() => false)); i++) await new Promise((r) => setTimeout(r, 100));
});

describe('TrafficProfile writer against a real API server', () => {
  it('two nodes write one workload: no conflict, every connect counted, writes within the bound', async () => {
    const ns = await createNamespace(c, 'tp-two');
    const web = deploymentOwner(ns, 'web');
    const flushIntervalMs = 250;
    const n1 = await ProfileWriter.start({ kc: c.kc, node: 'node-1', journalDir: mkdtempSync(join(tmpdir(), 'tp-n1-')), flushIntervalMs, refreshMs: 0 });
    const n2 = await ProfileWriter.start({ kc: c.kc, node: 'node-2', journalDir: mkdtempSync(join(tmpdir(), 'tp-n2-')), flushIntervalMs, refreshMs: 0 });
    // Learning: both nodes see the same edges and one of their own each.
    let sent = 0;
    for (let i = 0; i < 200; i++) {
      n1.accept(obs(web, 80));
      n2.accept(obs(web, 80));
      n1.accept(obs(web, 443));
      n2.accept(obs(web, 8443));
      sent += 4;
    }
    await Promise.all([n1.flush({ all: true }), n2.flush({ all: true })]);
    // Steady state: only counts change, 4,000 connects over 2.5 s on each node.
    const before = await serverWrites();
    const started = Date.now();
    while (Date.now() - started < 2500) {
      for (let i = 0; i < 100; i++) {
        n1.accept(obs(web, 80));
        n2.accept(obs(web, 443 + (i % 2) * 8000));
        sent += 2;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    const elapsed = Date.now() - started;
    const steadyWrites = (await serverWrites()) - before;
    await Promise.all([n1.close(new Date(Date.now() + 10_000)), n2.close(new Date(Date.now() + 10_000))]);
    // At most one write per node per flush interval (a write may be a status apply, or on first
    // sight a create and an apply), plus the final flush of close().
    const bound = 2 * (Math.ceil(elapsed / flushIntervalMs) + 1);
    console.log(`steady state: ${sent} connects accepted, ${steadyWrites} writes in ${elapsed} ms from 2 nodes (bound ${bound})`);
    expect(steadyWrites).toBeGreaterThan(0);
    expect(steadyWrites).toBeLessThanOrEqual(bound);
    const { connects, objects, merged } = await countIn(ns);
    expect(objects).toBe(2);
    expect(merged).toHaveLength(1);
    expect(connects).toBe(sent);
    const port80 = merged[0]!.edges.find((e) => e.port === 80)!;
    expect(port80.nodes).toEqual(['node-1', 'node-2']);
    for (const w of [n1, n2]) expect(w.status()).toMatchObject({ lost: 0, backlog: 0 });
    expect((n1.status().retried as number) + (n2.status().retried as number)).toBe(0);
  });

  it('reports what does not fit the size bound in status, and learn says so', async () => {
    const ns = await createNamespace(c, 'tp-bound');
    const api = deploymentOwner(ns, 'api');
    const w = await ProfileWriter.start({ kc: c.kc, node: 'node-1', flushIntervalMs: 0, maxEdges: 5 });
    for (let port = 1000; port < 1008; port++) for (let i = 0; i < 3; i++) w.accept(obs(api, port));
    await w.flush({ all: true });
    await w.close(new Date(Date.now() + 5000));
    const [p] = await listProfiles(c.kc, { namespace: ns });
    expect(p!.status!.edges).toHaveLength(5);
    expect(p!.status!.edgeCount).toBe(5);
    expect(p!.status!.overflow).toEqual({ edges: 3, connects: 9 });
    const err = new TextSink();
    expect(await learnFromProfiles({ namespace: ns, out: mkdtempSync(join(tmpdir(), 'tp-out-')) }, { stderr: err, stdout: new TextSink() })).toBe(0);
    expect(err.text).toContain(`profile of Deployment ${ns}/Deployment/api is incomplete: 9 connects (3 edges) did not fit its size bound`);
    const summary = await profileSummary(c.kc, { namespace: ns });
    expect(summary).toMatchObject({ count: 1, edges: 5, overflowConnects: 9 });

    // A profile the API server refuses for its content (more labels than the CRD allows) is
    // counted as lost with the reason, and does not hold back the others.
    const crowded = { ...deploymentOwner(ns, 'crowded'), labels: Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`l${i}`, 'x'])) };
    const w2 = await ProfileWriter.start({ kc: c.kc, node: 'node-1', flushIntervalMs: 0 });
    w2.accept(obs(crowded, 80));
    w2.accept(obs(crowded, 80));
    w2.accept(obs(deploymentOwner(ns, 'fine'), 80));
    await w2.flush({ all: true });
    await w2.close(new Date(Date.now() + 5000));
    expect(w2.status()).toMatchObject({ lost: 2, rejected: 2, backlog: 0, written: 1 });
    expect(String(w2.status().lastError)).toMatch(/refused by the API server/);
    expect((await listProfiles(c.kc, { namespace: ns })).map((p) => p.spec.workload.name).sort()).toEqual(['api', 'fine']);
  });

  it('keeps same-named workloads of two namespaces apart (one profile each, its own edges)', async () => {
    const a = await createNamespace(c, 'tp-same-a');
    const b = await createNamespace(c, 'tp-same-b');
    const w = await ProfileWriter.start({ kc: c.kc, node: 'node-1', flushIntervalMs: 0 });
    w.accept(obs(deploymentOwner(a, 'web'), 80));
    w.accept(obs(deploymentOwner(b, 'web'), 443));
    await w.flush({ all: true });
    await w.close(new Date(Date.now() + 5000));
    for (const [ns, port] of [[a, 80], [b, 443]] as const) {
      const got = await listProfiles(c.kc, { namespace: ns });
      expect(got.map((p) => [p.spec.workload.namespace, p.status!.edges!.map((e) => e.port)]), ns).toEqual([[ns, [port]]]);
    }
  });

  it('counts as lost, and does not hold back the others, a profile whose namespace is gone or going', async () => {
    // A namespace deleted while its edges waited (here: never made, and one being deleted; this
    // API server runs no namespace controller, so a deleted namespace stays Terminating), as a
    // node's journal replayed into a rebuilt cluster also holds.
    const fine = await createNamespace(c, 'tp-fine');
    const going = await createNamespace(c, 'tp-going');
    await rawRequest(c.kc, `/api/v1/namespaces/${going}`, { method: 'DELETE' });
    const w = await ProfileWriter.start({ kc: c.kc, node: 'node-1', flushIntervalMs: 0 });
    w.accept(obs(deploymentOwner('tp-never-made', 'x'), 80));
    w.accept(obs(deploymentOwner('tp-never-made', 'x'), 80));
    w.accept(obs(deploymentOwner(going, 'y'), 80));
    w.accept(obs(deploymentOwner(fine, 'z'), 80));
    await w.flush({ all: true });
    expect(w.status()).toMatchObject({ lost: 3, rejected: 3, backlog: 0, written: 1 });
    expect(String(w.status().lastError)).toMatch(/refused by the API server: (namespaces "tp-never-made" not found|.*being terminated)/);
    await w.close(new Date(Date.now() + 5000));
    expect((await listProfiles(c.kc, { namespace: fine })).map((p) => p.spec.workload.name)).toEqual(['z']);
  });

  it('a profile whose namespace is gone is counted as lost with the reason, and does not hold back the others', async () => {
    // An agent that restarts after a namespace was deleted replays connects of that namespace from
    // its journal: their profile can never be written. Before the fix every flush stopped at it
    // (retried forever): nothing else was written, and the agent was never ready.
    const ns = await createNamespace(c, 'tp-ns-gone');
    const w = await ProfileWriter.start({ kc: c.kc, node: 'node-1', journalDir: mkdtempSync(join(tmpdir(), 'tp-gone-')), flushIntervalMs: 0 });
    w.accept(obs(deploymentOwner('tp-no-such-namespace', 'ghost'), 80));
    w.accept(obs(deploymentOwner('tp-no-such-namespace', 'ghost'), 81));
    w.accept(obs(deploymentOwner(ns, 'alive'), 80));
    await w.flush({ all: true }).catch(() => {});
    await w.flush({ all: true }).catch(() => {});
    await w.close(new Date(Date.now() + 5000));
    expect(w.status()).toMatchObject({ lost: 2, backlog: 0, written: 1 });
    expect(String(w.status().lastError)).toMatch(/namespace tp-no-such-namespace does not exist/);
    expect(w.readiness()).toEqual({ ready: true });
    expect((await listProfiles(c.kc, { namespace: ns })).map((p) => p.spec.workload.name)).toEqual(['alive']);
  });

  it('retention removes edges older than it (counted) and deletes an emptied profile', async () => {
    const ns = await createNamespace(c, 'tp-retain');
    const day = 86_400_000;
    const old = new Date(Date.now() - 3 * day).toISOString();
    const w = await ProfileWriter.start({ kc: c.kc, node: 'node-1', flushIntervalMs: 0 });
    w.accept(obs(deploymentOwner(ns, 'a'), 80, old));
    w.accept(obs(deploymentOwner(ns, 'a'), 80, old));
    w.accept(obs(deploymentOwner(ns, 'a'), 443));
    w.accept(obs(deploymentOwner(ns, 'b'), 80, old));
    await w.flush({ all: true });
    await w.close(new Date(Date.now() + 5000));
    expect((await listProfiles(c.kc, { namespace: ns })).length).toBe(2);
    // The same node's next agent, with --retention 1d.
    const again = await ProfileWriter.start({ kc: c.kc, node: 'node-1', flushIntervalMs: 0, retentionMs: day });
    await again.flush();
    await again.close(new Date(Date.now() + 5000));
    const left = await listProfiles(c.kc, { namespace: ns });
    expect(left.map((p) => p.spec.workload.name)).toEqual(['a']);
    expect(left[0]!.status!.edges.map((e) => e.port)).toEqual([443]);
    expect(left[0]!.status!.expired).toEqual({ edges: 1, connects: 2 });
    expect(again.status()).toMatchObject({ expiredEdges: 2, deleted: 1, lost: 0 });

    // A node that left: its writer is gone; any agent's retention sweep deletes what it left
    // behind once nothing in it is within retention, and nothing that is.
    const gone = await ProfileWriter.start({ kc: c.kc, node: 'node-gone', flushIntervalMs: 0 });
    gone.accept(obs(deploymentOwner(ns, 'c'), 80, old));
    gone.accept(obs(deploymentOwner(ns, 'a'), 8080, old));
    gone.accept(obs(deploymentOwner(ns, 'a'), 8443));
    await gone.flush({ all: true });
    await gone.close(new Date(Date.now() + 5000));
    const names = async () => (await listProfiles(c.kc, { namespace: ns })).map((p) => `${p.spec.node}/${p.spec.workload.name}`).sort();
    expect(await names()).toEqual(['node-1/a', 'node-gone/a', 'node-gone/c']);
    const sweeper = await ProfileWriter.start({ kc: c.kc, node: 'node-1', flushIntervalMs: 0, retentionMs: day });
    // Cluster-wide: this file's earlier tests wrote only recent edges (the demo's old ones come later), so only node-gone/c goes.
    // The sweep lists from the watch cache, which may trail the last write by a moment.
    let collected = 0;
    for (let i = 0; i < 20 && collected === 0; i++) {
      collected += await sweeper.collectExpired();
      if (collected === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(collected).toBe(1);
    await sweeper.close(new Date(Date.now() + 5000));
    expect(await names()).toEqual(['node-1/a', 'node-gone/a']);
    expect(sweeper.status()).toMatchObject({ collected: 1 });
  });

  it('loses nothing while the API server is stopped and started mid-learning', async () => {
    const ns = await createNamespace(c, 'tp-outage');
    const w = await ProfileWriter.start({ kc: c.kc, node: 'node-1', journalDir: mkdtempSync(join(tmpdir(), 'tp-out-')), flushIntervalMs: 200, refreshMs: 0, backoffMaxMs: 1000 });
    let accepted = 0;
    let stop = false;
    const generator = (async () => {
      for (let i = 0; !stop; i++) {
        // New edges keep appearing during the outage too (ports cycle over 40).
        w.accept(obs(deploymentOwner(ns, `w${i % 3}`), 1000 + (i % 40)));
        accepted++;
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 1000));
    await stopApiserver();
    const during = accepted;
    await new Promise((r) => setTimeout(r, 2000));
    expect(accepted).toBeGreaterThan(during); // learning went on
    const down = w.status();
    expect(down.backlog as number).toBeGreaterThan(0);
    await startApiserver();
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await generator;
    await w.close(new Date(Date.now() + 20_000));
    const s = w.status();
    const { connects } = await countIn(ns);
    // Both sides: what was accepted is in the profiles or counted lost — and nothing was lost.
    expect(connects + (s.lost as number)).toBe(accepted);
    expect(s.lost).toBe(0);
    expect(s.retried as number).toBeGreaterThan(0);
    expect(s.backlog).toBe(0);
  }, 120_000);

  it('replays the journal of a SIGKILLed writer: every connect once', async () => {
    ensureBuilt();
    const ns = await createNamespace(c, 'tp-kill');
    const journalDir = mkdtempSync(join(tmpdir(), 'tp-kill-'));
    const observations: ProfileObservation[] = [];
    for (let i = 0; i < 3000; i++) observations.push(obs(deploymentOwner(ns, `w${i % 3}`), 80 + (i % 7)));
    const file = join(journalDir, '..', `tp-kill-obs-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(observations));
    const child = spawn(process.execPath, [join(ROOT, 'test/e2e/support/profile-writer-child.mjs'), c.adminKubeconfig, journalDir, file, 'node-k'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((res, rej) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) res(out.trim());
      });
      child.on('exit', (code) => rej(new Error(`child exited ${code} before accepting`)));
    });
    expect(line).toMatch(/^accepted 3000 written [1-9]/);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // Before replay the API server holds the first half only.
    expect((await countIn(ns)).connects).toBe(1500);
    const next = await ProfileWriter.start({ kc: c.kc, node: 'node-k', journalDir, flushIntervalMs: 0 });
    await next.flush({ all: true });
    await next.close(new Date(Date.now() + 5000));
    expect(next.status()).toMatchObject({ replayed: 1500, replaySkipped: 1500, lost: 0 });
    expect((await countIn(ns)).connects).toBe(3000);
    // The earlier runs' segments were compacted away: one segment holds what was pending then.
    expect(readdirSync(journalDir).filter((f) => f.startsWith('seg-'))).toHaveLength(1);
    // A third start replays it and adds nothing: the objects already include it.
    const third = await ProfileWriter.start({ kc: c.kc, node: 'node-k', journalDir, flushIntervalMs: 0 });
    await third.flush({ all: true });
    await third.close(new Date(Date.now() + 5000));
    expect(third.status()).toMatchObject({ replayed: 0, replaySkipped: 1500, lost: 0 });
    expect((await countIn(ns)).connects).toBe(3000);
  });
});


describe('learn from TrafficProfiles', () => {
  it('gives the policies learn --flows gives on the same recording', async () => {
    const index = buildIndex(loadSnapshot([join(DEMO, 'cluster.yaml')]));
    const flows = await readAllFlows([join(DEMO, 'flows.jsonl')]);
    for (const ns of ['shop', 'payments']) await c.core.createNamespace({ body: { metadata: { name: ns } } }).catch(() => {});
    // The demo's connects, seen by two nodes' agents (identity taken at connect time).
    const writers = await Promise.all(['demo-1', 'demo-2'].map((node) => ProfileWriter.start({ kc: c.kc, node, flushIntervalMs: 0 })));
    flows.forEach((f, i) => writers[i % 2]!.accept(observationOf(resolveFlow(f, index), f.ts!)!));
    for (const w of writers) {
      await w.flush({ all: true });
      await w.close(new Date(Date.now() + 5000));
    }
    const reading = await readProfiles(c.kc);
    const demo = reading.profiles.filter((p) => p.nodes.some((n) => n.startsWith('demo-')));
    expect(demo.map((p) => p.workload.name).sort()).toEqual(['api', 'mypod', 'web']);
    const pe = profileLearnEdges(demo, index);
    const fromProfiles = learnFromResolved(pe.edges, pe.connects, pe.unanswered, index, {});
    const fromFlows = await learnFromFlows(flows, index, {});
    const yaml = (o: typeof fromFlows) => renderPolicies(o.result.policies.map((p) => p.policy));
    expect(fromFlows.result.policies.map((p) => p.path)).toEqual(fromProfiles.result.policies.map((p) => p.path));
    expect(fromFlows.result.policies.length).toBe(4);
    expect(yaml(fromProfiles)).toBe(yaml(fromFlows));

    // The command itself, through the API server (-n shop -l app=web): web's policy, as --flows learns it.
    const out = new TextSink();
    const err = new TextSink();
    expect(await learnFromProfiles({ namespace: 'shop', selector: 'app=web' }, { stdout: out, stderr: err })).toBe(0);
    const webFromFlows = renderPolicies(fromFlows.result.policies.filter((p) => p.workload.name === 'web').map((p) => p.policy));
    expect(out.text).toBe(webFromFlows);
    expect(err.text).toMatch(/read \d+ TrafficProfiles \(\d+ workloads, \d+ nodes\)/);

    // The CLI as a user runs it: no --source, the CRD is installed, so learn reads the profiles.
    ensureBuilt();
    const cli = netpol(['learn', '-n', 'shop', '-l', 'app=web', '--kubeconfig', c.adminKubeconfig]);
    expect(cli.stderr).toMatch(/read \d+ TrafficProfiles/);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toBe(webFromFlows);
    const tooOld = netpol(['learn', '-n', 'shop', '-l', 'app=web', '--since', '1ms', '--kubeconfig', c.adminKubeconfig]);
    expect(tooOld.code).toBe(0);
    expect(tooOld.stderr).toMatch(/--since left out \d+ edges/);
  });

  it('reads every profile in one LIST request, without managedFields (501 profiles: more than a page of 500)', async () => {
    const ns = await createNamespace(c, 'many');
    const node = 'many-1';
    const names = Array.from({ length: 501 }, (_, i) => `w-${i}`);
    let next = 0;
    // Objects as an agent creates them (spec only: a profile without status is read as empty).
    const create = async () => {
      while (next < names.length) {
        const o = deploymentOwner(ns, names[next++]!);
        const body = { apiVersion: PROFILE_API_VERSION, kind: PROFILE_KIND, metadata: { name: profileName(o, node), namespace: ns, labels: profileLabels(o, node) }, spec: { workload: o, node } };
        await rawRequest(c.kc, `/apis/netpol.io/v1alpha1/namespaces/${ns}/trafficprofiles`, { method: 'POST', body, timeoutMs: 60_000 });
      }
    };
    await Promise.all(Array.from({ length: 8 }, create));
    const lists = await serverRequests(/verb="LIST"/);
    const reading = await readProfiles(c.kc);
    // In pages of 500 this was two requests, the second served from etcd (client.ts, pageSize).
    expect((await serverRequests(/verb="LIST"/)) - lists).toBe(1);
    expect(reading.profiles.filter((p) => p.workload.namespace === ns).map((p) => p.workload.name).sort()).toEqual([...names].sort());
    // Pages still follow the continue token to the end, and no object is kept with its managedFields.
    const paged = await listProfiles(c.kc, { namespace: ns, pageSize: 200 });
    expect(paged.map((p) => p.spec.workload.name).sort()).toEqual([...names].sort());
    expect(paged.filter((p) => 'managedFields' in p.metadata)).toEqual([]);
    await rawRequest(c.kc, `/apis/netpol.io/v1alpha1/namespaces/${ns}/trafficprofiles`, { method: 'DELETE', timeoutMs: 60_000 });
  }, 180_000);

  it('without the CRD: --since and --source profiles say what they need', async () => {
    await rawRequest(c.kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/trafficprofiles.netpol.io', { method: 'DELETE' });
    for (let i = 0; i < 100 && (await profilesServed(c.kc)); i++) await new Promise((r) => setTimeout(r, 100));
    const res = netpol(['learn', '-l', 'app=web', '--since', '3d', '--kubeconfig', c.adminKubeconfig]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--since');
    expect(res.stderr).toContain('trafficprofiles.netpol.io is not installed');
    const forced = netpol(['learn', '-l', 'app=web', '--source', 'profiles', '--kubeconfig', c.adminKubeconfig]);
    expect(forced.code).toBe(3);
    expect(forced.stderr).toContain('serves no TrafficProfiles');
  });
});
