// Staged policies against a real API server: the CRD (deploy/crds/stagednetworkpolicies.yaml) and
// its RBAC (deploy/base/rbac-staged.yaml), `netpol stage/unstage/promote` as a user runs them,
// evidence written by two live judges standing for two nodes' agents (each its own field manager,
// merged by server-side apply), `kubectl get` columns, and Events deduplicated and rate-limited.
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type CoreV1Event, type V1ClusterRole, type V1ClusterRoleBinding, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { PodConnect } from '../../src/cluster/cluster-agent.js';
import { LiveClusterView, rawRequest } from '../../src/cluster/live.js';
import { applyNodeEvidence, applyStaged, getStaged, listStaged } from '../../src/cluster/staged/client.js';
import { newNodeEvidence } from '../../src/cluster/staged/evidence.js';
import type { StagedNetworkPolicy } from '../../src/cluster/staged/types.js';
import { EventRecorder } from '../../src/daemon/event-recorder.js';
import { JudgeSink, type AuditRecord } from '../../src/daemon/judge-sink.js';
import { runAudit } from '../../src/cli/commands/audit/index.js';
import { ensureBuilt, netpolAsync } from '../support/cli.js';
import { createNamespace, createRunningPod, ensureCluster, type TestCluster } from './support/cluster.js';
import { installCrds, stagedRbacDocs } from './support/crds.js';

async function eventually<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function connectOf(pod: V1Pod, node: string, dstIp: string, port: number, outcome?: 'established' | 'timeout'): PodConnect {
  return {
    event: {} as PodConnect['event'],
    time: new Date(),
    node,
    source: { pod, namespace: pod.metadata!.namespace!, name: pod.metadata!.name! },
    record: {
      v: 1,
      proto: 'TCP',
      node,
      src: { ip: pod.status!.podIP!, port: 40000 + Math.floor(Math.random() * 20000), namespace: pod.metadata!.namespace!, pod: pod.metadata!.name! },
      dst: { ip: dstIp, port },
      ...(outcome ? { outcome } : {}),
    },
  };
}

const webPolicy = (ns: string, name = 'web') => `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.10/32}}]
    ports: [{port: 80, protocol: TCP}]
`;

describe('staged policies on a real API server', () => {
  let c: TestCluster;
  let work: string;
  const env = (): NodeJS.ProcessEnv => ({ KUBECONFIG: c.adminKubeconfig });
  const cli = (args: string[]) => netpolAsync([...args, '--kubeconfig', c.adminKubeconfig]);

  beforeAll(async () => {
    ensureBuilt();
    c = await ensureCluster();
    await installCrds(c, ['stagednetworkpolicies']);
    work = mkdtempSync(join(tmpdir(), 'netpol-staged-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('stage validates like every loader (file, line, field; exit 2) and writes nothing when one file is bad', async () => {
    const ns = await createNamespace(c, 'stg');
    const dir = join(work, 'bad');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), webPolicy(ns, 'good'));
    writeFileSync(join(dir, 'b.yaml'), webPolicy(ns, 'bad').replace('port: 80', 'port: 70000'));
    const r = await cli(['stage', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/b\.yaml:12: spec\.egress\[0\]\.ports\[0\]\.port: .*between 1 and 65535/);
    expect(await listStaged(c.kc, ns)).toEqual([]);
  });

  it('stage, kubectl get, unstage', async () => {
    const ns = await createNamespace(c, 'stg');
    const dir = join(work, ns);
    mkdirSync(join(dir, ns), { recursive: true });
    writeFileSync(join(dir, ns, 'web.yaml'), webPolicy(ns));
    writeFileSync(join(dir, 'kustomization.yaml'), `resources: [${ns}/web.yaml]\n`);
    let r = await cli(['stage', dir]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`stagednetworkpolicy.netpol.io/web created  \\(namespace ${ns}, from .*web.yaml:1\\)`));
    expect(r.code).toBe(0);
    r = await cli(['stage', dir]);
    expect(r.stdout).toMatch(/web unchanged/);
    const got = await getStaged(c.kc, ns, 'web');
    expect(got?.spec).toEqual({ podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '203.0.113.10/32' } }], ports: [{ port: 80, protocol: 'TCP' }] }] });
    // Nothing is enforced by staging.
    expect((await c.networking.listNamespacedNetworkPolicy({ namespace: ns })).items).toEqual([]);
    const table = execFileSync('kubectl', ['get', 'stagednetworkpolicies', '-n', ns], { env: { ...process.env, ...env() }, encoding: 'utf8' });
    expect(table.split('\n')[0]).toMatch(/^NAME\s+WOULD-DENY\s+LAST-SEEN\s+AGE$/);
    r = await cli(['unstage', 'web', '-n', ns]);
    expect(r.stdout).toBe(`stagednetworkpolicy.netpol.io/web deleted  (namespace ${ns})\n`);
    expect(await getStaged(c.kc, ns, 'web')).toBeUndefined();
    r = await cli(['unstage', 'web', '-n', ns]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such StagedNetworkPolicy/);
  });

  describe('two nodes judging live', () => {
    let ns: string;
    let view: LiveClusterView;
    const sinks: JudgeSink[] = [];
    let onN1: V1Pod;
    let onN2: V1Pod;
    const audit: AuditRecord[] = [];

    beforeAll(async () => {
      ns = await createNamespace(c, 'stg');
      // A Deployment's pod (through its ReplicaSet, as the controllers would make them) on n1, a bare pod on n2.
      const dep = await c.apps.createNamespacedDeployment({
        namespace: ns,
        body: { metadata: { name: 'web' }, spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox' }] } } } },
      });
      const rs = await c.apps.createNamespacedReplicaSet({
        namespace: ns,
        body: {
          metadata: { name: 'web-5d9c', labels: { app: 'web', 'pod-template-hash': '5d9c' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: dep.metadata!.uid!, controller: true }] },
          spec: { selector: { matchLabels: { app: 'web', 'pod-template-hash': '5d9c' } }, template: { metadata: { labels: { app: 'web', 'pod-template-hash': '5d9c' } }, spec: { containers: [{ name: 'web', image: 'busybox' }] } } },
        },
      });
      onN1 = await createRunningPod(
        c,
        ns,
        { name: 'web-5d9c-a', labels: { app: 'web', 'pod-template-hash': '5d9c' }, nodeName: 'n1', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9c', uid: rs.metadata!.uid!, controller: true }] },
        { ips: ['10.246.1.5'] },
      );
      onN2 = await createRunningPod(c, ns, { name: 'batch', labels: { app: 'web' }, nodeName: 'n2' }, { ips: ['10.246.2.5'] });
      await applyStaged(c.kc, { metadata: { name: 'web', namespace: ns }, spec: parse(webPolicy(ns)).spec } as StagedNetworkPolicy);
      view = await LiveClusterView.connect({ kubeconfig: c.adminKubeconfig });
      for (const node of ['n1', 'n2']) {
        const sink = await JudgeSink.start({ node, view }, { statusFlushMs: 200, eventFlushMs: 200 });
        sink.subscribe((r) => audit.push(r));
        sinks.push(sink);
      }
      // The sinks see the staged policy once their watch has it.
      const all = (await listStaged(c.kc)).length; // other tests' staged policies share the cluster
      await eventually(async () => (sinks.every((s) => s.status().staged === all) ? true : undefined), 'the staged policy in both judges');
    });

    afterAll(async () => {
      for (const s of sinks) await s.close(new Date(Date.now() + 2000));
      await view?.close();
    });

    it('records would-be-denied connects per node, each entry owned by its node, with the summary kubectl shows', async () => {
      const [n1, n2] = sinks as [JudgeSink, JudgeSink];
      for (let i = 0; i < 3; i++) n1.accept(connectOf(onN1, 'n1', '203.0.113.20', 80, 'established'));
      n1.accept(connectOf(onN1, 'n1', '203.0.113.10', 80, 'established')); // allowed by the staged policy
      n2.accept(connectOf(onN2, 'n2', '198.51.100.7', 443, 'established'));
      n2.accept(connectOf(onN2, 'n2', '198.51.100.7', 443, 'established'));
      const staged = await eventually(async () => {
        const s = await getStaged(c.kc, ns, 'web');
        return s?.status?.wouldDeny === 5 && s.status.nodes?.length === 2 ? s : undefined;
      }, 'evidence from both nodes');
      const byNode = Object.fromEntries((staged.status!.nodes ?? []).map((n) => [n.node, n]));
      expect(byNode.n1).toMatchObject({ observedGeneration: 1, wouldDeny: 3, examples: [expect.objectContaining({ source: `${ns}/Deployment/web`, peer: 'r/203.0.113.20:80', port: 80, gate: 'egress', count: 3 })] });
      expect(byNode.n2).toMatchObject({ wouldDeny: 2, examples: [expect.objectContaining({ source: `${ns}/Pod/batch`, peer: 'r/198.51.100.7:443', count: 2 })] });
      expect(staged.status!.lastSeen).toBe([byNode.n1!.lastSeen!, byNode.n2!.lastSeen!].sort()[1]);
      // One field manager per node, each owning its own entry (server-side apply merged them).
      const raw = (await rawRequest(c.kc, `/apis/netpol.io/v1alpha1/namespaces/${ns}/stagednetworkpolicies/web`)) as { metadata: { managedFields: Array<{ manager: string; subresource?: string; fieldsV1: unknown }> } };
      const managers = raw.metadata.managedFields.filter((f) => f.subresource === 'status').map((f) => f.manager).sort();
      expect(managers).toEqual(['netpol-agent/n1', 'netpol-agent/n2']);
      const n1Fields = JSON.stringify(raw.metadata.managedFields.find((f) => f.manager === 'netpol-agent/n1')!.fieldsV1);
      expect(n1Fields).toContain('{\\"node\\":\\"n1\\"}');
      expect(n1Fields).not.toContain('{\\"node\\":\\"n2\\"}');
      // kubectl get shows the summary.
      const table = execFileSync('kubectl', ['get', 'snp', 'web', '-n', ns, '--no-headers'], { env: { ...process.env, ...env() }, encoding: 'utf8' });
      expect(table).toMatch(/^web\s+5\s+\d+s\s+\d+s/);
      // The audit stream named the staged policy and the gate, with diff's reason.
      const wouldDeny = audit.filter((a) => a.verdict === 'would-deny');
      expect(wouldDeny).toHaveLength(5);
      expect(wouldDeny[0]).toMatchObject({ node: 'n1', staged: true, policy: `${ns}/web`, gate: 'egress', workload: `${ns}/Deployment/web`, dst: 'r/203.0.113.20:80', proto: 'TCP' });
      expect(wouldDeny[0]!.reason).toMatch(new RegExp(`egress from ${ns}/web-5d9c-a isolated by ${ns}/web: no rule allows 203.0.113.20:80/TCP`));
      // Metrics name it too.
      const verdicts = n1.metrics().find((m) => m.name === 'netpol_judge_verdicts_total')!;
      expect(verdicts.samples).toEqual([{ labels: { verdict: 'would_deny', policy: `${ns}/web`, gate: 'egress' }, value: 3 }]);
      // And an Event on the Deployment, counted, not repeated.
      const events = await eventually(async () => {
        const list = (await c.core.listNamespacedEvent({ namespace: ns })).items.filter((e) => e.reason === 'StagedPolicyWouldDeny' && e.involvedObject.kind === 'Deployment');
        return list.length === 1 && list[0]!.count === 3 ? list : undefined;
      }, 'one Event with count 3 on the Deployment');
      expect(events[0]!.message).toBe(`connect from ${ns}/Deployment/web to r/203.0.113.20:80/TCP would be denied by staged policy ${ns}/web (egress)`);
      expect(events[0]!.involvedObject).toMatchObject({ apiVersion: 'apps/v1', name: 'web', namespace: ns });
    });

    it('a restarted judge resumes its node entry instead of starting over', async () => {
      const again = await JudgeSink.start({ node: 'n1', view }, { statusFlushMs: 200, eventFlushMs: 200 });
      try {
        const all = (await listStaged(c.kc)).length;
        await eventually(async () => (again.status().staged === all ? true : undefined), 'the staged policy');
        again.accept(connectOf(onN1, 'n1', '203.0.113.20', 80, 'established'));
        const s = await eventually(async () => {
          const got = await getStaged(c.kc, ns, 'web');
          return got?.status?.wouldDeny === 6 ? got : undefined;
        }, 'the count continued');
        expect(s.status!.nodes!.find((n) => n.node === 'n1')!.wouldDeny).toBe(4);
      } finally {
        await again.close(new Date(Date.now() + 2000));
      }
    });

    it('promote refuses while a would-be-denied flow is in the window, naming it; --force promotes and removes the staged object', async () => {
      let r = await cli(['promote', 'web', '-n', ns, '--quiet-for', '1h']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/judged by 2 node\(s\): n1, n2/);
      expect(r.stdout).toMatch(new RegExp(`${ns}/Deployment/web → r/203.0.113.20:80 TCP \\(egress\\) ×4, last .* on n1`));
      expect(r.stdout).toMatch(new RegExp(`${ns}/Pod/batch → r/198.51.100.7:443 TCP \\(egress\\) ×2, last .* on n2`));
      expect(r.stdout).toMatch(/refused: not promoting .*within the window/);
      expect((await c.networking.listNamespacedNetworkPolicy({ namespace: ns })).items).toEqual([]);
      r = await cli(['promote', 'web', '-n', ns, '--force']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/--force: promoting despite/);
      expect(r.stdout).toMatch(new RegExp(`networkpolicy.networking.k8s.io/web created  \\(namespace ${ns}\\)`));
      expect(r.stdout).toMatch(/\+    - ports:|\+  egress:/);
      expect(r.stdout).toMatch(/promoted and removed/);
      const np = await c.networking.readNamespacedNetworkPolicy({ name: 'web', namespace: ns });
      expect(np.spec?.egress?.[0]?.to?.[0]?.ipBlock?.cidr).toBe('203.0.113.10/32');
      expect(await getStaged(c.kc, ns, 'web')).toBeUndefined();
    });

    it('once enforced, the judge reports the connect as denied, and as dropped when it got no answer', async () => {
      const [n1] = sinks as [JudgeSink];
      await eventually(async () => (view.objects().networkPolicies.some((p) => p.metadata?.namespace === ns) ? true : undefined), 'the enforced policy in the view');
      audit.length = 0;
      n1.accept(connectOf(onN1, 'n1', '203.0.113.20', 80, 'timeout'));
      n1.accept(connectOf(onN1, 'n1', '203.0.113.20', 80, 'established'));
      expect(audit.map((a) => [a.verdict, a.staged, a.policy, a.gate])).toEqual([
        ['dropped', false, `${ns}/web`, 'egress'],
        ['denied', false, `${ns}/web`, 'egress'],
      ]);
    });
  });

  it('audit prints what the judges stream (filters -n, -l, --staged-only; -o json; lost and malformed lines said, not hidden)', async () => {
    const ns = await createNamespace(c, 'stg');
    const other = await createNamespace(c, 'stg');
    // Addresses of this run only (the cluster may hold pods of earlier runs: no namespace controller deletes them).
    const subnet = `10.${100 + randomInt(100)}.${randomInt(250)}`;
    const a = await createRunningPod(c, ns, { name: 'a', labels: { app: 'a' }, nodeName: 'n1' }, { ips: [`${subnet}.5`] });
    const b = await createRunningPod(c, other, { name: 'b', labels: { app: 'b' }, nodeName: 'n1' }, { ips: [`${subnet}.6`] });
    for (const n of [ns, other]) await applyStaged(c.kc, { metadata: { name: 'deny-egress', namespace: n }, spec: { podSelector: {}, policyTypes: ['Egress'] } } as StagedNetworkPolicy);
    await c.networking.createNamespacedNetworkPolicy({ namespace: ns, body: { metadata: { name: 'no-ingress' }, spec: { podSelector: { matchLabels: { app: 'a' } }, policyTypes: ['Ingress'] } } });
    const view = await LiveClusterView.connect({ kubeconfig: c.adminKubeconfig });
    const sink = await JudgeSink.start({ node: 'n1', view }, { statusFlushMs: 60_000 });
    try {
      const all = (await listStaged(c.kc)).length;
      await eventually(async () => (sink.status().staged === all && view.objects().networkPolicies.some((p) => p.metadata?.namespace === ns) ? true : undefined), 'policies in the judge');
      // The wire: each record as one JSON line, as GET /v1/audit carries it; then the stream ends.
      const lines: string[] = [];
      const off = sink.subscribe((r) => lines.push(JSON.stringify(r)));
      const fed = [connectOf(a, 'n1', '203.0.113.20', 80, 'established'), connectOf(b, 'n1', `${subnet}.5`, 8080, 'timeout')];
      sink.accept(fed[0]!); // would-deny (ns)
      sink.accept(fed[1]!); // dropped by ns/no-ingress (already denied: the staged policy of other changes nothing)
      off();
      // `netpol diff --live` on the same connects, recorded: the same verdicts and reasons as the judge.
      const flows = join(work, `${ns}.jsonl`);
      writeFileSync(flows, fed.map((f) => JSON.stringify(f.record)).join('\n') + '\n');
      const diff = await cli(['diff', '--live', '--flows', flows, '-o', 'json']);
      const judged = (JSON.parse(diff.stdout) as { cluster: { flows: Array<{ src: string; dst: string; verdict: string; reason: string }> } }).cluster.flows;
      const droppedLine = JSON.parse(lines[1]!) as AuditRecord;
      expect(judged.find((f) => f.verdict === 'denied')).toMatchObject({ src: droppedLine.src, dst: droppedLine.dst, reason: droppedLine.reason });
      expect(judged.find((f) => f.src.startsWith(`p/${ns}/a:`))).toMatchObject({ verdict: 'allowed', dst: 'r/203.0.113.20:80' });
      lines.push('{"lost":2}', 'not json');
      const dial = async function* () {
        yield { node: 'n1', open: async () => (async function* () { yield* lines; })(), close: async () => {} };
      };
      const run = async (args: Partial<Parameters<typeof runAudit>[0]>) => {
        let out = '';
        let err = '';
        const sinkOut = { write: (s: string) => ((out += s), true) } as NodeJS.WritableStream;
        const sinkErr = { write: (s: string) => ((err += s), true) } as NodeJS.WritableStream;
        const code = await runAudit({ output: 'text', kubeconfig: c.adminKubeconfig, ...args }, { stdout: sinkOut, stderr: sinkErr, dial });
        return { code, out, err };
      };
      let r = await run({ namespace: ns });
      expect(r.code).toBe(0);
      expect(r.out.trim().split('\n')).toEqual([
        expect.stringMatching(new RegExp(`  n1  p/${ns}/a:\\d+ → r/203.0.113.20:80 TCP  would be denied by staged ${ns}/deny-egress \\(egress\\)  ${ns}/Pod/a  \\[established\\]$`)),
        expect.stringMatching(new RegExp(`  n1  p/${other}/b:\\d+ → p/${ns}/a:8080 TCP  dropped by ${ns}/no-ingress \\(ingress\\)  ${other}/Pod/b  \\[timeout\\]$`)),
      ]);
      expect(r.err).toBe('streaming verdicts from the agent on node n1\nwarning: agent on n1: 2 audit record(s) lost (this client read too slowly)\nwarning: agent on n1: line 4 of /v1/audit: not JSON: ' + r.err.split('not JSON: ')[1]);
      r = await run({ namespace: ns, stagedOnly: true, output: 'json' });
      expect(r.out.trim().split('\n').map((l) => JSON.parse(l) as AuditRecord).map((x) => [x.verdict, x.policy, x.gate])).toEqual([['would-deny', `${ns}/deny-egress`, 'egress']]);
      r = await run({ allNamespaces: true, selector: 'app=b' });
      expect(r.out).toMatch(new RegExp(`dropped by ${ns}/no-ingress`));
      expect(r.out.trim().split('\n')).toHaveLength(1);
      r = await run({ allNamespaces: true, selector: 'app=b', stagedOnly: true });
      expect(r.out).toBe('');
    } finally {
      await sink.close(new Date(Date.now() + 1000));
      await view.close();
    }
  });

  it('promote applies a policy whose evidence covers the window with nothing denied, and --quiet-for refuses an uncovered window', async () => {
    const ns = await createNamespace(c, 'stg');
    await applyStaged(c.kc, { metadata: { name: 'quiet', namespace: ns }, spec: parse(webPolicy(ns)).spec } as StagedNetworkPolicy);
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await applyNodeEvidence(c.kc, { namespace: ns, name: 'quiet' }, newNodeEvidence('n1', 1, twoHoursAgo), { wouldDeny: 0 });
    let r = await cli(['promote', 'quiet', '-n', ns, '--quiet-for', '3h']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/does not cover the window/);
    r = await cli(['promote', 'quiet', '-n', ns, '--quiet-for', '1h']);
    expect(r.stdout).toMatch(/judged by 1 node\(s\): n1/);
    expect(r.stdout).toMatch(/would-be-denied connects: 0 in total/);
    expect(r.code).toBe(0);
    expect((await c.networking.readNamespacedNetworkPolicy({ name: 'quiet', namespace: ns })).metadata?.name).toBe('quiet');
  });

  it('Events: repeats increment one Event; the token bucket holds writes back without losing counts; similar messages aggregate', async () => {
    const ns = await createNamespace(c, 'stg');
    const pod = await createRunningPod(c, ns, { name: 'p' }, { ips: ['10.246.9.9'] });
    const object = { apiVersion: 'v1', kind: 'Pod', namespace: ns, name: 'p', uid: pod.metadata!.uid! };
    const rec = new EventRecorder(c.kc, { node: 'n1', burst: 2, refillMs: 60_000, maxSimilar: 3 });
    const ev = (message: string) => rec.record({ object, type: 'Warning', reason: 'NetworkPolicyDenied', message, at: new Date() });
    for (let i = 0; i < 5; i++) ev('m0');
    await rec.flush();
    const list = async (): Promise<CoreV1Event[]> => (await c.core.listNamespacedEvent({ namespace: ns })).items;
    expect((await list()).map((e) => [e.message, e.count])).toEqual([['m0', 5]]);
    // Second write (a patch) takes the second token; the third must wait.
    ev('m0');
    ev('m1');
    await rec.flush();
    expect(rec.figures).toMatchObject({ created: 1, patched: 1, throttled: 1, pending: 1, lost: 0 });
    expect((await list()).map((e) => [e.message, e.count])).toEqual([['m0', 6]]);
    // Distinct messages past maxSimilar (3) for one object and reason share one combined Event.
    for (const m of ['m2', 'm3', 'm4']) ev(m);
    const fast = new EventRecorder(c.kc, { node: 'n1', burst: 100, maxSimilar: 3 });
    for (const m of ['a', 'b', 'c', 'd', 'e']) fast.record({ object, type: 'Warning', reason: 'StagedPolicyWouldDeny', message: m, at: new Date() });
    await fast.flush();
    const staged = (await list()).filter((e) => e.reason === 'StagedPolicyWouldDeny').map((e) => [e.message, e.count]).sort();
    expect(staged).toEqual([['(combined from similar events): e', 2], ['a', 1], ['b', 1], ['c', 1]]);
    // A token later, what waited is written with its whole count (nothing dropped).
    const later = new EventRecorder(c.kc, { node: 'n1', burst: 1, refillMs: 300, maxSimilar: 10 });
    for (let i = 0; i < 3; i++) later.record({ object, type: 'Warning', reason: 'NetworkPolicyDropped', message: 'x', at: new Date() });
    await later.flush();
    later.record({ object, type: 'Warning', reason: 'NetworkPolicyDropped', message: 'x', at: new Date() });
    await later.flush();
    expect(later.figures.throttled).toBe(1);
    await new Promise((r) => setTimeout(r, 350));
    await later.flush();
    const dropped = (await list()).filter((e) => e.reason === 'NetworkPolicyDropped');
    expect(dropped.map((e) => e.count)).toEqual([4]);
    expect(later.figures).toMatchObject({ created: 1, patched: 1, pending: 0, lost: 0 });
  });

  describe('deploy/base/rbac-staged.yaml', () => {
    const created: Array<{ kind: string; name: string }> = [];
    afterAll(async () => {
      for (const o of created.reverse()) {
        if (o.kind === 'ClusterRoleBinding') await c.rbac.deleteClusterRoleBinding({ name: o.name }).catch(() => undefined);
        else await c.rbac.deleteClusterRole({ name: o.name }).catch(() => undefined);
      }
    });

    it("the agent's role may write evidence to status, never a spec, and record Events", async () => {
      const ns = await createNamespace(c, 'stg');
      await applyStaged(c.kc, { metadata: { name: 'r', namespace: ns }, spec: parse(webPolicy(ns)).spec } as StagedNetworkPolicy);
      for (const doc of stagedRbacDocs.filter((d) => d.kind === 'ClusterRole')) {
        await c.rbac.deleteClusterRole({ name: doc.metadata.name }).catch(() => undefined);
        await c.rbac.createClusterRole({ body: doc as V1ClusterRole });
        created.push({ kind: 'ClusterRole', name: doc.metadata.name });
      }
      // The shipped binding names the agent's ServiceAccount; the test binds the same role to its second identity.
      const shipped = stagedRbacDocs.find((d) => d.kind === 'ClusterRoleBinding') as V1ClusterRoleBinding;
      expect(shipped.subjects).toEqual([{ kind: 'ServiceAccount', name: 'netpol-agent', namespace: 'netpol-system' }]);
      await c.rbac.createClusterRoleBinding({
        body: { metadata: { name: 'netpol-rbac-staged-test' }, roleRef: shipped.roleRef, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'netpol-rbac' }] },
      });
      created.push({ kind: 'ClusterRoleBinding', name: 'netpol-rbac-staged-test' });
      const agent = new KubeConfig();
      agent.loadFromFile(c.rbacKubeconfig);
      const written = await eventually(
        () => applyNodeEvidence(agent, { namespace: ns, name: 'r' }, newNodeEvidence('n9', 1, new Date()), { wouldDeny: 0 }).then((s) => s, () => undefined),
        'the binding to take effect',
      );
      expect(written.status?.nodes?.map((n) => n.node)).toEqual(['n9']);
      const err = await applyStaged(agent, { metadata: { name: 'r', namespace: ns }, spec: { podSelector: {} } } as StagedNetworkPolicy).catch((e: unknown) => e);
      expect((err as { statusCode?: number }).statusCode).toBe(403);
      await rawRequest(agent, `/api/v1/namespaces/${ns}/events`, {
        method: 'POST',
        body: { metadata: { name: 'x.1' }, involvedObject: { kind: 'Pod', name: 'x', namespace: ns }, reason: 'R', message: 'm', type: 'Normal' },
      });
    });

    it('without that role the judge is not ready and says which role; once bound, it becomes ready by itself', async () => {
      await c.rbac.deleteClusterRoleBinding({ name: 'netpol-rbac-staged-test' }).catch(() => undefined);
      const agent = new KubeConfig();
      agent.loadFromFile(c.rbacKubeconfig);
      const view = await LiveClusterView.connect({ kubeconfig: c.adminKubeconfig });
      // The admin's cluster view, the agent's identity for what the judge itself reads and writes.
      const asAgent = { kc: agent, objects: () => view.objects(), index: () => view.index() } as unknown as LiveClusterView;
      const sink = await JudgeSink.start({ node: 'n7', view: asAgent });
      try {
        expect(sink.readiness().ready).toBe(false);
        expect(sink.readiness().reason).toMatch(/cannot watch staged policies: not allowed[\s\S]*netpol-agent-staged ClusterRole/);
        const shipped = stagedRbacDocs.find((d) => d.kind === 'ClusterRoleBinding') as V1ClusterRoleBinding;
        await c.rbac.createClusterRoleBinding({
          body: { metadata: { name: 'netpol-rbac-staged-judge' }, roleRef: shipped.roleRef, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'netpol-rbac' }] },
        });
        created.push({ kind: 'ClusterRoleBinding', name: 'netpol-rbac-staged-judge' });
        await eventually(async () => (sink.readiness().ready ? true : undefined), 'the judge to become ready', 20_000);
        expect(sink.status().staged).toBe((await listStaged(c.kc)).length);
      } finally {
        await sink.close(new Date(Date.now() + 1000));
        await view.close();
      }
    });
  });
});
