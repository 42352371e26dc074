/**
 * DNS learned, not assumed, from TrafficProfiles, against a real API server (test/cluster/) with
 * the CRD from deploy/crds: the real writer records in status.protocols whether its agent observed
 * UDP and since when, and `learn` from the profiles
 *   - learns the DNS rule from the lookups a workload was seen making when every node that saw it
 *     observed UDP (annotated netpol.io/dns: observed; UDP 53 only, as it was seen),
 *   - assumes it, saying which node and why, when a node's agent did not observe UDP (no
 *     CAP_NET_ADMIN), did not say (an older agent), or observed it only after the connects began;
 *   - and the window survives agent restarts that keep observing UDP, but not one that does not.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { learnFromProfiles } from '../../src/cli/commands/learn/profiles.js';
import { rawRequest } from '../../src/cluster/live.js';
import { listProfiles, profilesServed } from '../../src/cluster/profile/client.js';
import type { ProtocolState } from '../../src/cluster/profile/observing.js';
import type { EdgeObservation, WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { ProfileWriter } from '../../src/cluster/profile/writer.js';
import { createNamespace, ensureCluster, type TestCluster } from './support/cluster.js';
import { deploymentOwner, installProfileCrd, profileCrdDocument } from './support/profiles.js';
import { TextSink } from '../support/text-sink.js';

const NO_CAP = 'its hooks are cgroup programs, which need CAP_NET_ADMIN';
const WITH_UDP: ProtocolState[] = [
  { protocol: 'TCP', observed: true },
  { protocol: 'UDP', observed: true },
];
const WITHOUT_UDP: ProtocolState[] = [
  { protocol: 'TCP', observed: true },
  { protocol: 'UDP', observed: false, problem: NO_CAP },
];
const COREDNS: WorkloadIdentity = {
  namespace: 'kube-system',
  kind: 'Deployment',
  name: 'coredns',
  selector: { matchLabels: { 'k8s-app': 'kube-dns' } },
  labels: { 'k8s-app': 'kube-dns' },
};
const LOOKUP: EdgeObservation = { peer: { workload: COREDNS }, via: { namespace: 'kube-system', name: 'kube-dns', port: 53 }, port: 53, protocol: 'UDP', outcome: 'established' };
const HTTPS: EdgeObservation = { peer: { address: '203.0.113.10' }, port: 443, protocol: 'TCP', outcome: 'established' };
const DNS_PODS = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } };

let c: TestCluster;
const dirs: string[] = [];


function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** One agent's life on a node: starts, says what it observes (unless `protocols` is undefined: an older agent), records, flushes, stops. */
async function agentRun(node: string, journalDir: string | undefined, protocols: ProtocolState[] | undefined, connects: Array<[WorkloadIdentity, EdgeObservation]>): Promise<void> {
  const w = await ProfileWriter.start({ kc: c.kc, node, flushIntervalMs: 0, gcIntervalMs: 0, ...(journalDir ? { journalDir } : {}) });
  if (protocols) w.observing(protocols, new Date());
  await new Promise((r) => setTimeout(r, 5)); // connects come after the programs are attached
  for (const [o, e] of connects) w.accept({ owner: o, edges: [e], time: new Date().toISOString() });
  await w.flush({ all: true });
  await w.close(new Date(Date.now() + 5000));
  expect(w.status()).toMatchObject({ lost: 0, backlog: 0 });
}


/** `learn` from the profiles for one namespace: its policies by workload name, and what it said. */
async function learn(namespace: string): Promise<{ policies: Record<string, any>; stderr: string }> {
  const out = tmp('tp-dns-out-');
  const err = new TextSink();
  expect(await learnFromProfiles({ namespace, out }, { stdout: new TextSink(), stderr: err })).toBe(0);
  const policies: Record<string, any> = {};
  for (const name of ['client', 'nocap', 'mixed', 'old']) {
    try {
      policies[name] = parseYaml(readFileSync(join(out, namespace, `${name}.yaml`), 'utf8'));
    } catch {
      /* no policy for it */
    }
  }
  return { policies, stderr: err.text };
}

beforeAll(async () => {
  c = await ensureCluster();
  await installProfileCrd(c.kc, { replace: true });
});

afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await rawRequest(c.kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/trafficprofiles.netpol.io', { method: 'DELETE' }).catch(() => {});
  for (let i = 0; i < 100 && (await profilesServed(c.kc).catch(() => false)); i++) await new Promise((r) => setTimeout(r, 100));
});

describe('DNS from TrafficProfiles: observed where UDP was', () => {
  it('records which protocols the agent observed; learns DNS from the lookups where every node observed UDP, assumes it elsewhere and says why', async () => {
    const ns = await createNamespace(c, 'tp-dns');
    const client = deploymentOwner(ns, 'client');
    const nocap = deploymentOwner(ns, 'nocap');
    const mixed = deploymentOwner(ns, 'mixed');
    const old = deploymentOwner(ns, 'old');
    // node-1's agent observes UDP; node-2's runs without CAP_NET_ADMIN; node-3's is older (says nothing).
    await agentRun('node-1', tmp('tp-dns-j1-'), WITH_UDP, [
      [client, LOOKUP],
      [client, HTTPS],
      [mixed, LOOKUP],
      [mixed, HTTPS],
    ]);
    await agentRun('node-2', tmp('tp-dns-j2-'), WITHOUT_UDP, [[nocap, HTTPS]]);
    await agentRun('node-3', undefined, undefined, [
      [mixed, HTTPS],
      [old, HTTPS],
    ]);

    // What the API server holds (the CRD keeps the field: an unknown one would be pruned).
    const objects = await listProfiles(c.kc, { namespace: ns });
    const protocolsOf = (name: string, node: string) => objects.find((o) => o.spec.workload.name === name && o.spec.node === node)?.status?.protocols;
    const since = protocolsOf('client', 'node-1')?.[0]?.since;
    expect(protocolsOf('client', 'node-1')).toEqual([
      { protocol: 'TCP', since },
      { protocol: 'UDP', since },
    ]);
    expect(Date.parse(since!)).toBeLessThanOrEqual(Date.parse(objects.find((o) => o.spec.workload.name === 'client')!.status!.oldestObservation!));
    expect(protocolsOf('nocap', 'node-2')).toEqual([
      { protocol: 'TCP', since: expect.any(String) },
      { protocol: 'UDP', problem: NO_CAP },
    ]);
    expect(protocolsOf('old', 'node-3')).toBeUndefined();

    const { policies, stderr } = await learn(ns);
    // client: every connect seen with UDP observed: the DNS rule is the lookups it made (UDP 53 only).
    expect(policies.client.metadata.annotations['netpol.io/dns']).toBe('observed');
    expect(policies.client.spec.egress).toEqual([
      { to: [DNS_PODS], ports: [{ protocol: 'UDP', port: 53 }] },
      { to: [{ ipBlock: { cidr: '203.0.113.10/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
    expect(stderr).toContain(`dns: learned from observed lookups to kube-system/k8s-app=kube-dns for 1 policy (annotated netpol.io/dns: observed): ${ns}/client`);
    // nocap, old and mixed (node-3 saw some of its connects): assumed, each with its node and reason.
    const ASSUMED = [
      { to: [DNS_PODS], ports: [{ protocol: 'TCP', port: 53 }, { protocol: 'UDP', port: 53 }] },
      { to: [{ ipBlock: { cidr: '203.0.113.10/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ];
    for (const name of ['nocap', 'old', 'mixed']) {
      expect(policies[name].metadata.annotations['netpol.io/dns'], name).toBeUndefined();
      expect(policies[name].spec.egress, name).toEqual(ASSUMED);
    }
    expect(stderr).toContain(`dns: assumed for Deployment ${ns}/nocap: node node-2: its agent did not observe UDP (${NO_CAP})`);
    expect(stderr).toContain(`dns: assumed for Deployment ${ns}/old: node node-3: its agent did not record which protocols it observed`);
    expect(stderr).toContain(`dns: assumed for Deployment ${ns}/mixed: node node-3: its agent did not record which protocols it observed`);
    expect(stderr).toMatch(new RegExp(`dns: assumed for 3 policies \\(their flows were recorded without observing UDP\\).*${ns}/mixed, ${ns}/nocap, ${ns}/old`));
  });

  it('keeps the UDP window across restarts that observe UDP, and starts it anew after one that did not', async () => {
    const ns = await createNamespace(c, 'tp-dns-win');
    const client = deploymentOwner(ns, 'client');
    const journal = tmp('tp-dns-win-');
    const udpSince = async () => (await listProfiles(c.kc, { namespace: ns }))[0]!.status!.protocols!.find((p) => p.protocol === 'UDP')!;

    await agentRun('node-1', journal, WITH_UDP, [[client, LOOKUP], [client, HTTPS]]);
    const first = (await udpSince()).since!;
    // A restart that observes UDP again: the window goes on, DNS is still observed.
    await agentRun('node-1', journal, WITH_UDP, [[client, HTTPS]]);
    expect((await udpSince()).since).toBe(first);
    expect((await learn(ns)).policies.client.metadata.annotations['netpol.io/dns']).toBe('observed');

    // A restart without CAP_NET_ADMIN: UDP not observed, said in the object.
    await agentRun('node-1', journal, WITHOUT_UDP, [[client, HTTPS]]);
    expect(await udpSince()).toEqual({ protocol: 'UDP', problem: NO_CAP });
    let learned = await learn(ns);
    expect(learned.policies.client.metadata.annotations['netpol.io/dns']).toBeUndefined();
    expect(learned.stderr).toContain(`dns: assumed for Deployment ${ns}/client: node node-1: its agent did not observe UDP (${NO_CAP})`);

    // UDP again: a new window, which the edges first seen before it are not in.
    await agentRun('node-1', journal, WITH_UDP, [[client, HTTPS]]);
    const again = (await udpSince()).since!;
    expect(Date.parse(again)).toBeGreaterThan(Date.parse(first));
    learned = await learn(ns);
    expect(learned.policies.client.metadata.annotations['netpol.io/dns']).toBeUndefined();
    expect(learned.stderr).toMatch(new RegExp(`dns: assumed for Deployment ${ns}/client: node node-1: its agent observed UDP only since ${again.replace(/[.]/g, '\\.')}, after this workload's connects from `));
  });

  it('with a CRD older than status.protocols: the writer keeps writing without the claim (nothing lost, says why) and learn assumes DNS', async () => {
    await installProfileCrd(c.kc, { crd: profileCrdDocument(true), replace: true });
    try {
      const ns = await createNamespace(c, 'tp-dns-old');
      const client = deploymentOwner(ns, 'client');
      const w = await ProfileWriter.start({ kc: c.kc, node: 'node-1', flushIntervalMs: 0, gcIntervalMs: 0, backoffMaxMs: 10 });
      w.observing(WITH_UDP, new Date());
      w.accept({ owner: client, edges: [LOOKUP], time: new Date().toISOString() });
      w.accept({ owner: client, edges: [HTTPS], time: new Date().toISOString() });
      // The first write is refused for the field; the next, without it, goes through.
      await expect(w.flush({ all: true })).rejects.toThrow(/status\.protocols: field not declared in schema/);
      await new Promise((r) => setTimeout(r, 20));
      await w.flush({ all: true });
      await w.close(new Date(Date.now() + 5000));
      expect(w.status()).toMatchObject({ lost: 0, backlog: 0, written: 1, protocolsRefused: 1 });
      const [p] = await listProfiles(c.kc, { namespace: ns });
      expect(p!.status!.edgeCount).toBe(2);
      expect(p!.status!.protocols).toBeUndefined();
      const learned = await learn(ns);
      expect(learned.policies.client.metadata.annotations['netpol.io/dns']).toBeUndefined();
      expect(learned.stderr).toContain(`dns: assumed for Deployment ${ns}/client: node node-1: its agent did not record which protocols it observed`);
    } finally {
      await installProfileCrd(c.kc, { replace: true });
    }
  });
});
