// One policy set learned from two agents (NETPOL_NODES=2 test/node/up.sh): the agents deployed with
// `kubectl netpol deploy` on both nodes; pods pinned to each node talk to each other directly and
// through a Service (by DNS name: the lookups go to CoreDNS), within and across namespaces, and to
// the outside. `kubectl netpol learn -A --apply` reads the TrafficProfiles both agents wrote and
// applies one policy set for every workload (netpol's own agents and CoreDNS included); with it
// enforced by kube-network-policies on both nodes, every observed flow still works, the agents stay
// ready (their own flows were learned too), and flows never observed are refused.
// Run under the node lock: flock /tmp/netpol-node.lock npx vitest run test/e2e/node-twonode-learn.test.ts
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { TrafficProfile } from '../../src/cluster/profile/types.js';
import { ensureBuilt, netpolAsync } from '../support/cli.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { RealNode } from './support/node.js';
import { pushNetpolImage } from './support/node-suite.js';

const NS = 'tl-x';
const OTHER_NS = 'tl-y';
const OUTSIDE = '198.51.100.20:80';
const N1 = 'netpol-node';
const N2 = 'netpol-node-2';

type Obj = Record<string, unknown>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// a on node 1; b on node 2 (both namespace tl-x); c on node 2 in tl-y.
const PODS: Array<{ name: string; ns: string; node: string }> = [
  { name: 'a', ns: NS, node: N1 },
  { name: 'b', ns: NS, node: N2 },
  { name: 'c', ns: OTHER_NS, node: N2 },
];

describe('two nodes: one policy set learned from both agents', () => {
  let node: RealNode;
  let work: string;
  const ips: Record<string, string> = {};
  const figures: Record<string, unknown> = {};
  const netpol = (args: string[]) => netpolAsync([...args, '--kubeconfig', node.kubeconfig]);

  const ns = (pod: string) => PODS.find((p) => p.name === pod)!.ns;
  /** A TCP connect from inside a pod (its own process): open, refused, or a timeout. */
  async function connect(pod: string, target: string): Promise<string> {
    const r = await node.kubectl(['exec', '-n', ns(pod), pod, '--', '/tcpserver', '-probe', '-timeout', '2s', target], { allowFail: true });
    return (r.stdout.trim().split(' ').pop() ?? '') || `error: ${r.stderr.trim()}`;
  }

  // The flows the workloads make while learning (each twice: a first connect and a repeat).
  const OBSERVED: Array<{ from: string; to: () => string; what: string }> = [
    { from: 'a', to: () => `${ips.b}:80`, what: 'a (node 1) → b (node 2) directly' },
    { from: 'b', to: () => `${ips.a}:80`, what: 'b (node 2) → a (node 1) directly' },
    { from: 'a', to: () => `svc-b.${NS}.svc.cluster.local:8080`, what: 'a → Service svc-b (→ b, node 2), by DNS name' },
    { from: 'c', to: () => `svc-a.${NS}.svc.cluster.local:8080`, what: 'c (tl-y, node 2) → Service svc-a (→ a, node 1), by DNS name' },
    { from: 'c', to: () => `${ips.b}:81`, what: 'c → b on the same node (node 2), port 81' },
    { from: 'b', to: () => OUTSIDE, what: 'b (node 2) → the outside' },
  ];
  const UNOBSERVED: Array<{ from: string; to: () => string; what: string }> = [
    { from: 'a', to: () => `${ips.b}:81`, what: 'a → b on a port never used by a' },
    { from: 'b', to: () => `${ips.c}:80`, what: 'b → c (nobody ever connected to c)' },
    { from: 'a', to: () => OUTSIDE, what: 'a → the outside (only b went out)' },
  ];

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('these tests need root (real nodes)');
    ensureBuilt();
    ensureBpfBuilt();
    work = mkdtempSync(join(tmpdir(), 'netpol-twonode-learn-'));
    node = await RealNode.start({ nodes: 2 });
    pushNetpolImage(node, work);
    const pod = (p: (typeof PODS)[number]): Obj => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: p.ns, labels: { app: p.name } },
      spec: { nodeName: p.node, containers: [{ name: 'server', image: 'docker.io/netpol/tcpserver:latest', args: ['80', '81'], ports: [{ name: 'http', containerPort: 80 }, { name: 'alt', containerPort: 81 }] }] },
    });
    const svc = (name: string): Obj => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${name}`, namespace: NS }, spec: { selector: { app: name }, ports: [{ port: 8080, targetPort: 80 }] } });
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OTHER_NS } },
      ...PODS.map(pod),
      svc('a'),
      svc('b'),
    ];
    const file = join(work, 'pods.yaml');
    writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
    await node.kubectl(['apply', '-f', file]);
    for (const n of [NS, OTHER_NS]) await node.kubectl(['wait', '--for=condition=Ready', 'pod', '--all', '-n', n, '--timeout=90s']);
    for (const p of PODS) ips[p.name] = (await node.kubectl(['get', 'pod', '-n', p.ns, p.name, '-o', 'jsonpath={.status.podIP}'])).stdout;
  }, 420_000);

  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(`node-twonode-learn figures: ${JSON.stringify(figures)}`);
    await node?.stop().catch(() => undefined);
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('before any agent or policy, every flow works; then the agents are deployed on both nodes', async () => {
    // No agent runs yet: these connects are seen by nobody, so the unobserved flows stay unobserved.
    // Right after the pods are Ready a first connect across the nodes can time out (the route between
    // the nodes' pod ranges settling; seen once in 2 runs): each flow gets 30 s to open.
    for (const f of [...OBSERVED, ...UNOBSERVED]) {
      let r = await connect(f.from, f.to());
      for (const deadline = Date.now() + 30_000; r !== 'open' && Date.now() < deadline; await sleep(1000)) r = await connect(f.from, f.to());
      expect({ what: f.what, r }).toEqual({ what: f.what, r: 'open' });
    }
    const t = Date.now();
    const dep = await netpol(['deploy', '--timeout', '150s']);
    figures.deployMs = Date.now() - t;
    expect(dep.code, dep.stderr).toBe(0);
    expect(dep.stdout).toMatch(/^netpol agent ready on 2 node\(s\) in [\d.]+s: /);
  }, 240_000);

  it('the agents of both nodes write the flows into TrafficProfiles (one object per workload and node)', async () => {
    // The learning run: only the observed flows, each twice.
    for (let i = 0; i < 2; i++) for (const f of OBSERVED) expect({ what: f.what, r: await connect(f.from, f.to()) }).toEqual({ what: f.what, r: 'open' });
    const t = Date.now();
    const want = (ps: TrafficProfile[]) => {
      const of = (w: string) => ps.filter((p) => p.spec.workload.name === w).flatMap((p) => (p.status?.edges ?? []).map((e) => ({ node: p.spec.node, e })));
      const toPod = (w: string, peer: string, port: number, via?: string) =>
        of(w).some(({ e }) => 'workload' in e.peer && e.peer.workload.name === peer && e.port === port && (via === undefined ? e.via === undefined : e.via?.name === via));
      return {
        aToB: toPod('a', 'b', 80),
        bToA: toPod('b', 'a', 80),
        aToSvcB: toPod('a', 'b', 80, 'svc-b'),
        cToSvcA: toPod('c', 'a', 80, 'svc-a'),
        cToB81: toPod('c', 'b', 81),
        bOut: of('b').some(({ e }) => 'address' in e.peer && e.peer.address === OUTSIDE.split(':')[0] && e.port === 80),
        nodes: [...new Set(ps.map((p) => p.spec.node))].sort(),
      };
    };
    let got: ReturnType<typeof want> | undefined;
    const expected = { aToB: true, bToA: true, aToSvcB: true, cToSvcA: true, cToB81: true, bOut: true, nodes: [N1, N2] };
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(1000)) {
      const out = JSON.parse((await node.kubectl(['get', 'trafficprofiles', '-A', '-o', 'json'])).stdout) as { items: TrafficProfile[] };
      got = want(out.items);
      if (JSON.stringify(got) === JSON.stringify(expected)) break;
    }
    figures.profiledMs = Date.now() - t;
    expect(got).toEqual(expected);
  }, 180_000);

  it('learn -A --apply gives one policy set; enforced on both nodes, every observed flow works and unobserved ones are refused', async () => {
    const out = join(work, 'policies');
    const t = Date.now();
    const r = await netpol(['learn', '-A', '--apply', '--out', out]);
    figures.learnApplyMs = Date.now() - t;
    // eslint-disable-next-line no-console
    console.log(`learn -A --apply:\n${r.stderr}\n${r.stdout}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/read \d+ TrafficProfiles \(\d+ workloads, 2 nodes\)/);
    const files = readdirSync(out, { recursive: true }).map(String);
    figures.policyFiles = files.length;
    const applied = JSON.parse((await node.kubectl(['get', 'networkpolicy', '-A', '-o', 'json'])).stdout) as { items: { metadata: { namespace: string; name: string } }[] };
    figures.policies = applied.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    for (const n of [NS, OTHER_NS]) expect(applied.items.some((p) => p.metadata.namespace === n), n).toBe(true);
    // Both nodes' kube-network-policies program the set from their watches.
    await sleep(3000);
    for (const f of OBSERVED) expect({ what: f.what, r: await connect(f.from, f.to()) }).toEqual({ what: f.what, r: 'open' });
    for (const f of UNOBSERVED) expect({ what: f.what, r: await connect(f.from, f.to()) }).not.toEqual({ what: f.what, r: 'open' });
    // netpol's own agents keep working under the learned set (their flows to the API server were learned).
    const st = await netpol(['status', '-o', 'json']);
    const doc = JSON.parse(st.stdout) as { agents: { node: string; ready: boolean; reason?: string }[] };
    expect(doc.agents.map((a) => ({ node: a.node, ready: a.ready, reason: a.reason })).sort((x, y) => x.node.localeCompare(y.node))).toEqual([
      { node: N1, ready: true, reason: undefined },
      { node: N2, ready: true, reason: undefined },
    ]);
  }, 240_000);
});
