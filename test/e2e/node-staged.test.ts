// Staged policies on the real node (test/node/up.sh: kubelet, containerd, kube-proxy, CoreDNS and
// kube-network-policies enforcing NetworkPolicy): a policy learned from what the client did is
// staged; the client then makes a connection that was not learned, and within seconds the live
// judge (on the node's side, over the real kernel) streams an audit line, records an Event on the
// client's Deployment, counts a metric and writes evidence, each naming the staged policy;
// `promote --quiet-for` refuses, naming the flow; after `promote --force` the real dataplane
// blocks that connection and the judge reports it as dropped by the now enforced policy.
//
// Run under the node lock: flock /tmp/netpol-node.lock npx vitest run test/e2e/node-staged.test.ts
import { type ChildProcess } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/daemon/judge-sink.js';
import type { MetricFamily } from '../../src/daemon/sink.js';
import { netpolAsync } from '../support/cli.js';
import type { RealNode } from './support/node.js';
import { applyShop, startLearn, startNodeSuite } from './support/node-suite.js';

const repo = resolve(import.meta.dirname, '..', '..');
const RUNNER = join(repo, 'test', 'e2e', 'support', 'judge-runner.mjs');
const OUTSIDE = '203.0.113.10';

describe('a learned policy staged, judged live on a real node, promoted and enforced', () => {
  let node: RealNode;
  let work: string;
  let judge: ChildProcess | undefined;
  let judgeOut = '';
  let judgeErr = '';

  const records = (): AuditRecord[] =>
    judgeOut
      .split('\n')
      .filter((l) => l.startsWith('{"v":1'))
      .map((l) => JSON.parse(l) as AuditRecord);

  async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\njudge stdout:\n${judgeOut}\njudge stderr:\n${judgeErr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function clientPod(): Promise<string> {
    return (await node.kubectl(['get', 'pods', '-n', 'shop-client', '-l', 'app=client', '-o', 'jsonpath={.items[0].metadata.name}'])).stdout;
  }

  async function fromClient(command: string): Promise<string> {
    const r = await node.kubectl(['exec', '-n', 'shop-client', await clientPod(), '--', 'sh', '-c', command], { allowFail: true });
    return r.stdout.trim();
  }

  const callWeb = () => fromClient('timeout 3 nc web.shop-web.svc.cluster.local 80 </dev/null || echo unreachable');
  const callOutside = () => fromClient(`timeout 3 wget -q -O /dev/null http://${OUTSIDE} && echo ok || echo failed`);

  async function metrics(): Promise<{ metrics: MetricFamily[]; status: Record<string, unknown> }> {
    const before = judgeOut.length;
    judge!.stdin!.write('metrics\n');
    const line = await until('metrics', () => judgeOut.slice(before).split('\n').find((l) => l.startsWith('{"metrics"')));
    return JSON.parse(line) as { metrics: MetricFamily[]; status: Record<string, unknown> };
  }

  beforeAll(async () => {
    ({ node, work } = await startNodeSuite('netpol-node-staged-'));
    await node.kubectl(['apply', '-f', join(repo, 'deploy/crds/stagednetworkpolicies.yaml')]);
    await node.kubectl(['wait', '--for=condition=Established', 'crd/stagednetworkpolicies.netpol.io', '--timeout=30s']);
    await applyShop(node, work);
  }, 600_000);

  afterAll(async () => {
    if (judge && judge.exitCode === null) {
      judge.kill('SIGTERM');
      await new Promise((r) => judge!.once('exit', r));
    }
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('stage → audit line, Event, metric and evidence within seconds; promote refuses in the window; --force enforces; the dataplane drops it and audit says by which policy', async () => {
    const ready = Date.now() + 30_000;
    while (!/^tcpserver /.test(await callWeb()) && Date.now() < ready) await new Promise((r) => setTimeout(r, 500));

    // Learn what the client and web do (the client calls web by name), as a user would.
    const out = join(work, 'policies');
    const learn = await startLearn(node, ['-A', '-l', 'app in (web,client)', '--out', out]);
    expect(await callWeb()).toMatch(/^tcpserver /);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await learn.interrupt()).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['kustomization.yaml', 'shop-client', 'shop-web']);

    // Stage it: nothing is enforced, the client still reaches everything.
    const staged = await netpolAsync(['stage', out, '--kubeconfig', node.kubeconfig]);
    expect(staged.stderr).toBe('');
    expect(staged.code).toBe(0);
    const clientPolicy = /stagednetworkpolicy\.netpol\.io\/(\S+) created {2}\(namespace shop-client/.exec(staged.stdout)?.[1];
    expect(clientPolicy).toBeDefined();
    const policyKey = `shop-client/${clientPolicy}`;

    // The live judge on the node's side, as the agent runs it.
    judge = node.spawnOnNode(['env', `NETPOL_NODE_NAME=${node.name}`, process.execPath, RUNNER, node.kubeconfig, node.name], { stdio: ['pipe', 'pipe', 'pipe'] });
    judge.stdout!.on('data', (d: Buffer) => (judgeOut += d.toString()));
    judge.stderr!.on('data', (d: Buffer) => (judgeErr += d.toString()));
    await until('the judge to attach', () => (judgeErr.includes('ready') ? true : undefined), 60_000);
    await until('the staged policies in the judge', async () => ((await metrics()).status.staged === 2 ? true : undefined));

    // The learned call is allowed by the staged policies; a connection nobody learned is not.
    expect(await callWeb()).toMatch(/^tcpserver /);
    const t0 = Date.now();
    expect(await callOutside()).toBe('ok'); // not enforced: it still works
    const line = await until('the would-deny audit line', () => records().find((r) => r.verdict === 'would-deny' && r.dst === `r/${OUTSIDE}:80`));
    const auditSeconds = (Date.now() - t0) / 1000;
    expect(line).toMatchObject({ staged: true, policy: policyKey, gate: 'egress', workload: 'shop-client/Deployment/client', proto: 'TCP', outcome: 'established' });
    expect(records().filter((r) => r.dst.startsWith('s/shop-web/web'))).toEqual([]);

    const event = await until('the Event on the Deployment', async () => {
      const list = JSON.parse((await node.kubectl(['get', 'events', '-n', 'shop-client', '-o', 'json'])).stdout) as { items: Array<{ reason: string; message: string; count?: number; involvedObject: { kind: string; name: string } }> };
      // One Event per flow (wget is redirected from :80 to :443: two flows, two Events).
      return list.items.find((e) => e.reason === 'StagedPolicyWouldDeny' && e.message.includes(`${OUTSIDE}:80/`));
    });
    const eventSeconds = (Date.now() - t0) / 1000;
    expect(event.involvedObject).toMatchObject({ kind: 'Deployment', name: 'client' });
    expect(event.message).toBe(`connect from shop-client/Deployment/client to r/${OUTSIDE}:80/TCP would be denied by staged policy ${policyKey} (egress)`);

    const families = (await metrics()).metrics;
    const wouldDeny = records().filter((x) => x.verdict === 'would-deny' && x.policy === policyKey);
    process.stderr.write(`node-staged: would-deny records: ${JSON.stringify(wouldDeny.map((x) => [x.src, x.dst, x.outcome]))}\n`);
    // Every would-deny record of the policy counted once; the outside host redirects http to https,
    // so wget connects to :80 and then :443 — neither learned.
    expect(families.find((f) => f.name === 'netpol_judge_verdicts_total')!.samples).toContainEqual({ labels: { verdict: 'would_deny', policy: policyKey, gate: 'egress' }, value: wouldDeny.length });
    expect(wouldDeny.every((x) => x.dst === `r/${OUTSIDE}:80` || x.dst === `r/${OUTSIDE}:443`)).toBe(true);

    const evidence = await until('the evidence in status', async () => {
      const got = JSON.parse((await node.kubectl(['get', 'stagednetworkpolicy', clientPolicy!, '-n', 'shop-client', '-o', 'json'])).stdout) as { status?: { wouldDeny?: number; nodes?: Array<{ node: string; examples?: Array<{ peer: string }> }> } };
      return (got.status?.wouldDeny ?? 0) >= 1 ? got : undefined;
    });
    expect(evidence.status!.nodes).toEqual([expect.objectContaining({ node: node.name, examples: expect.arrayContaining([expect.objectContaining({ peer: `r/${OUTSIDE}:80`, gate: 'egress' })]) })]);
    process.stderr.write(`node-staged: audit line ${auditSeconds.toFixed(1)} s, Event ${eventSeconds.toFixed(1)} s after the connect\n`);

    // promote refuses while that flow is in the window, and names it.
    let r = await netpolAsync(['promote', clientPolicy!, '-n', 'shop-client', '--quiet-for', '1h', '--kubeconfig', node.kubeconfig]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`shop-client/Deployment/client → r/${OUTSIDE.replace(/\./g, '\\.')}:80 TCP \\(egress\\) ×\\d+, last `));
    expect(r.stdout).toMatch(/refused: not promoting/);
    r = await netpolAsync(['promote', clientPolicy!, '-n', 'shop-client', '--force', '--kubeconfig', node.kubeconfig]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/promoted and removed/);

    // Enforced now: the learned call still works, the unlearned one is dropped by the dataplane,
    // and the judge names the policy that dropped it.
    const enforcedBy = Date.now() + 15_000;
    let outside = await callOutside();
    while (outside !== 'failed' && Date.now() < enforcedBy) outside = await callOutside();
    expect(outside).toBe('failed');
    expect(await callWeb()).toMatch(/^tcpserver /);
    const dropped = await until('the dropped audit line', () => records().find((x) => x.verdict === 'dropped' && x.dst === `r/${OUTSIDE}:80`));
    expect(dropped).toMatchObject({ staged: false, policy: policyKey, gate: 'egress', workload: 'shop-client/Deployment/client' });
    expect(['timeout', 'closed']).toContain(dropped.outcome);
  }, 300_000);
});
