/**
 * `netpol learn --watch` against a real API server (test/cluster/): the TrafficProfiles CRD from
 * deploy/crds, profiles written as an agent writes them (server-side apply of object and status),
 * the real CLI as a child process in its non-TTY form (plain lines on stderr).
 *   - no CRD installed: a clear error (exit 3), no screen
 *   - a user who may list profiles but not watch them, and one who may not list them: errors that
 *     say so (exit 3)
 *   - a profile changes while watching: the new edge appears as a line, and at Ctrl-C (SIGINT) the
 *     policies written to --out are the ones of the profiles as they are then
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { rawRequest } from '../../src/cluster/live.js';
import { profilesServed } from '../../src/cluster/profile/client.js';
import type { EdgeObservation, WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { profileLabels, profileName } from '../../src/cluster/profile/types.js';
import { CLI, ensureBuilt, netpolAsync } from '../support/cli.js';
import { createNamespace, ensureCluster, type TestCluster } from './support/cluster.js';
import { deploymentOwner, installProfileCrd } from './support/profiles.js';

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const CRD_NAME = 'trafficprofiles.netpol.io';
let c: TestCluster;

async function removeCrd(kc: KubeConfig): Promise<void> {
  await rawRequest(kc, `${CRD_PATH}/${CRD_NAME}`, { method: 'DELETE' }).catch(() => {});
  for (let i = 0; i < 200 && (await profilesServed(kc).catch(() => false)); i++) await new Promise((r) => setTimeout(r, 100));
  expect(await profilesServed(kc)).toBe(false);
}


/** Writes `o`'s profile of `node` as its agent would: the object, then its status (server-side apply). */
async function writeProfile(o: WorkloadIdentity, node: string, edges: EdgeObservation[], count = 3): Promise<void> {
  const name = profileName(o, node);
  const path = `/apis/netpol.io/v1alpha1/namespaces/${o.namespace}/trafficprofiles/${name}?fieldManager=netpol-agent-${node}&force=true`;
  const req = { method: 'PATCH' as const, contentType: 'application/apply-patch+yaml' };
  const base = { apiVersion: 'netpol.io/v1alpha1', kind: 'TrafficProfile' };
  await rawRequest(c.kc, path, { ...req, body: { ...base, metadata: { name, namespace: o.namespace, labels: profileLabels(o, node) }, spec: { workload: o, node } } });
  const time = new Date().toISOString();
  const status = {
    edges: edges.map((e) => ({ ...e, count, firstSeen: time, lastSeen: time })),
    edgeCount: edges.length,
    overflow: { edges: 0, connects: 0 },
    expired: { edges: 0, connects: 0 },
    journal: { id: `test-${node}`, seq: count },
    oldestObservation: time,
    lastWrite: time,
  };
  await rawRequest(c.kc, path.replace('?', '/status?'), { ...req, body: { ...base, metadata: { name, namespace: o.namespace }, status } });
}

/** The CLI as a child, with its stderr collected and a way to wait for a line on it. */
function watchCli(args: string[]): { child: ChildProcess; stderr: () => string; waitFor: (re: RegExp, ms?: number) => Promise<void>; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
  const waitFor = async (re: RegExp, ms = 30_000) => {
    const until = Date.now() + ms;
    while (!re.test(stderr)) {
      if (Date.now() > until) throw new Error(`no ${re} on stderr within ${ms} ms:\n${stderr}`);
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode} before ${re}:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, stderr: () => stderr, waitFor, done };
}

beforeAll(async () => {
  ensureBuilt();
  c = await ensureCluster();
});

afterAll(async () => {
  // The CRD goes (its objects with it): later suites of the run see a cluster without profiles.
  await removeCrd(c.kc);
});

describe('learn --watch against a real API server', () => {
  it('without the TrafficProfiles CRD: a clear error, exit 3', async () => {
    await removeCrd(c.kc);
    const r = await netpolAsync(['learn', '--watch', '-A', '--kubeconfig', c.adminKubeconfig]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/serves no TrafficProfiles \(trafficprofiles\.netpol\.io\)/);
    expect(r.stderr).toMatch(/hint: install the agents/);
  });

  it('without RBAC to list, or to watch, TrafficProfiles: errors that say which, exit 3', async () => {
    await installProfileCrd(c.kc);
    const noList = await netpolAsync(['learn', '--watch', '-A', '--kubeconfig', c.rbacKubeconfig]);
    expect(noList.code, noList.stderr).toBe(3);
    expect(noList.stderr).toMatch(/cannot list TrafficProfiles: not allowed/);
    expect(noList.stderr).toMatch(/needs list and watch on trafficprofiles\.netpol\.io/);

    // May list (cluster-wide) but not watch.
    const role = `netpol-watch-test-list-only`;
    await rawRequest(c.kc, '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      method: 'POST',
      body: { metadata: { name: role }, rules: [{ apiGroups: ['netpol.io'], resources: ['trafficprofiles'], verbs: ['list'] }] },
    });
    await rawRequest(c.kc, '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      method: 'POST',
      body: { metadata: { name: role }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'User', name: 'netpol-rbac', apiGroup: 'rbac.authorization.k8s.io' }] },
    });
    try {
      let noWatch = await netpolAsync(['learn', '--watch', '-A', '--kubeconfig', c.rbacKubeconfig]);
      // RBAC takes effect within moments of the binding.
      for (let i = 0; i < 20 && /cannot list/.test(noWatch.stderr); i++) {
        await new Promise((r) => setTimeout(r, 250));
        noWatch = await netpolAsync(['learn', '--watch', '-A', '--kubeconfig', c.rbacKubeconfig]);
      }
      expect(noWatch.code, noWatch.stderr).toBe(3);
      expect(noWatch.stderr).toMatch(/cannot watch TrafficProfiles: not allowed/);
    } finally {
      await rawRequest(c.kc, `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${role}`, { method: 'DELETE' }).catch(() => {});
      await rawRequest(c.kc, `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role}`, { method: 'DELETE' }).catch(() => {});
    }
  });

  it('a profile that changes while watching: the new edge is shown, and Ctrl-C writes the policies of the profiles as they are then', async () => {
    await installProfileCrd(c.kc);
    const ns = await createNamespace(c, 'watch');
    const web = deploymentOwner(ns, 'web');
    const db = deploymentOwner(ns, 'db');
    await writeProfile(web, 'node-1', [{ peer: { workload: db }, port: 5432, protocol: 'TCP', outcome: 'established' }]);
    const out = join(mkdtempSync(join(tmpdir(), 'netpol-watch-')), 'policies');
    const run = watchCli(['learn', '--watch', '-n', ns, '--kubeconfig', c.adminKubeconfig, '--out', out]);
    await run.waitFor(new RegExp(`watching \\d+ TrafficProfiles .*learning -n ${ns}`));
    // Columns are cut to the terminal's width: the row is the Deployment's edge to db on 5432.
    await run.waitFor(/Deployment +w\/watch-\S+ +5432\/TCP/);
    expect(run.stderr()).not.toMatch(/203\.0\.113\.7/);

    // The agent of another node writes the same workload's profile with a new edge.
    await writeProfile(web, 'node-2', [{ peer: { address: '203.0.113.7' }, port: 443, protocol: 'TCP', outcome: 'established' }], 5);
    await run.waitFor(/r\/203\.0\.113\.7:443/);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/learned 2 policies from 8 flows \(2 distinct connections\)/);
    const webPolicy = readFileSync(join(out, ns, 'web.yaml'), 'utf8');
    expect(webPolicy).toMatch(/203\.0\.113\.7\/32/);
    expect(webPolicy).toMatch(/port: 5432/);
    expect(readFileSync(join(out, ns, 'db.yaml'), 'utf8')).toMatch(/ingress:/);
    expect(r.stdout).toBe('');
  }, 120_000);

  it('-o json without --out: JSON lines on stderr as profiles change, the policies as JSON on stdout at the end of --duration', async () => {
    await installProfileCrd(c.kc);
    const ns = await createNamespace(c, 'watchjson');
    const api = deploymentOwner(ns, 'api');
    const run = watchCli(['learn', '--watch', '-n', ns, '--kubeconfig', c.adminKubeconfig, '-o', 'json', '--duration', '6s']);
    await run.waitFor(/watching \d+ TrafficProfiles/);
    await writeProfile(api, 'node-1', [{ peer: { address: '198.51.100.9' }, port: 8443, protocol: 'TCP', outcome: 'established' }]);
    await run.waitFor(/"event":"connection".*198\.51\.100\.9/);
    const r = await run.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/"event":"summary","reason":"duration"/);
    const list = JSON.parse(r.stdout) as { kind: string; items: { kind: string; metadata: { name: string } }[] };
    expect(list.kind).toBe('List');
    expect(list.items.map((p) => `${p.kind}/${p.metadata.name}`)).toEqual(['NetworkPolicy/api']);
    expect(r.stdout).toMatch(/198\.51\.100\.9\/32/);
  }, 60_000);
});
