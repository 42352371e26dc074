// netpol probe against the real dataplane (kube-network-policies on test/node's real node): for each
// generated policy set, applied with kubectl, every real connect between the pods (and to the
// outside address) must match netpol's predicted verdict — exit 0, no disagreement. And the probe
// can fail: predicting with files that differ from what the cluster enforces lists disagreements
// and exits 1.
import { netpolAsync } from '../support/cli.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { RealNode } from './support/node.js';

const repo = resolve(import.meta.dirname, '..', '..');
const MAIN = join(repo, 'dist', 'cli', 'main.js');
const NS = 'probe-x';
const OTHER_NS = 'probe-y';
const OUTSIDE = '198.51.100.20'; // HTTP on 80 in the node's "internet"

/** The real `netpol` binary run on the host (as a user's shell would). */
const netpol = netpolAsync;

type Policy = Record<string, unknown>;
const np = (name: string, spec: Record<string, unknown>, namespace = NS): Policy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace },
  spec,
});
const all = {};
const app = (a: string) => ({ matchLabels: { app: a } });

/** Policy sets: selectors, matchExpressions, namespaces, ipBlock with except, named ports, endPort, both directions, default-deny. */
const SCENARIOS: Array<{ name: string; policies: Policy[] }> = [
  { name: 'no policy', policies: [] },
  { name: 'default-deny ingress', policies: [np('deny-in', { podSelector: all, policyTypes: ['Ingress'] })] },
  { name: 'default-deny egress', policies: [np('deny-out', { podSelector: all, policyTypes: ['Egress'] })] },
  { name: 'default-deny both', policies: [np('deny', { podSelector: all, policyTypes: ['Ingress', 'Egress'] })] },
  {
    name: 'ingress to b from app=a on 80',
    policies: [np('b-from-a', { podSelector: app('b'), ingress: [{ from: [{ podSelector: app('a') }], ports: [{ port: 80 }] }] })],
  },
  {
    name: 'ingress to tier=back from app in (a) (matchExpressions)',
    policies: [
      np('back', {
        podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['back'] }] },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a'] }] } }] }],
      }),
    ],
  },
  {
    name: 'ingress to a from namespace team=blue only',
    policies: [np('a-from-y', { podSelector: app('a'), ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }] }] })],
  },
  {
    name: 'named port: ingress to all on "alt"',
    policies: [np('alt-only', { podSelector: all, ingress: [{ ports: [{ port: 'alt' }] }] })],
  },
  {
    name: 'endPort: ingress to b on 80-81 from tier=front',
    policies: [np('range', { podSelector: app('b'), ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'front' } } }], ports: [{ port: 80, endPort: 81 }] }] })],
  },
  {
    name: 'egress from a to ipBlock with except',
    policies: [np('a-out', { podSelector: app('a'), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '198.51.100.0/24', except: [`${OUTSIDE}/32`] } }] }] })],
  },
  {
    name: 'egress from a to the outside only; ingress to b from a only',
    policies: [
      np('a-out', { podSelector: app('a'), policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${OUTSIDE}/32` } }], ports: [{ port: 80 }] }] }),
      np('b-in', { podSelector: app('b'), ingress: [{ from: [{ podSelector: app('a') }] }] }),
    ],
  },
  {
    name: 'egress from tier=back to app=a on 81, from the other namespace too',
    policies: [
      np('back-out', {
        podSelector: { matchLabels: { tier: 'back' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ podSelector: app('a'), namespaceSelector: { matchLabels: { team: 'green' } } }], ports: [{ port: 81 }] }],
      }),
      np('y-out', { podSelector: all, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { team: 'green' } } }], ports: [{ port: 80 }] }] }, OTHER_NS),
    ],
  },
];

// 18 more, generated: for each pod of probe-x, one set per rule shape (the others stay open).
const SHAPES: Array<[string, (target: string, peer: string) => Policy[]]> = [
  ['ingress from the peer pod on 81', (t, p) => [np(`g-${t}`, { podSelector: app(t), ingress: [{ from: [{ podSelector: app(p) }], ports: [{ port: 81 }] }] })]],
  ['egress to the peer pod on "http"', (t, p) => [np(`g-${t}`, { podSelector: app(t), policyTypes: ['Egress'], egress: [{ to: [{ podSelector: app(p) }], ports: [{ port: 'http' }] }] })]],
  [
    'ingress from app NotIn (peer) and from namespace team=blue',
    (t, p) => [
      np(`g-${t}`, {
        podSelector: app(t),
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: [p] }] } }, { namespaceSelector: { matchLabels: { team: 'blue' } } }] }],
      }),
    ],
  ],
  [
    'egress to ipBlock 198.51.100.0/24 except the outside host, and to the peer on 80-81',
    (t, p) => [
      np(`g-${t}`, {
        podSelector: app(t),
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '198.51.100.0/24', except: [`${OUTSIDE}/32`] } }] }, { to: [{ podSelector: app(p) }], ports: [{ port: 80, endPort: 81 }] }],
      }),
    ],
  ],
  [
    'both directions: ingress from the peer only, egress to the outside only',
    (t, p) => [
      np(`g-${t}`, {
        podSelector: app(t),
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: app(p) }] }],
        egress: [{ to: [{ ipBlock: { cidr: `${OUTSIDE}/32` } }] }],
      }),
    ],
  ],
  [
    'ingress to the pod (tier Exists, app In) from the peer in any namespace, on "alt"',
    (t, p) => [
      np(`g-${t}`, {
        podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }, { key: 'app', operator: 'In', values: [t] }] },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: [p] }] }, namespaceSelector: {} }], ports: [{ port: 'alt' }] }],
      }),
    ],
  ],
];
for (const [target, peer] of [['a', 'b'], ['b', 'c'], ['c', 'a']] as const) {
  for (const [shape, make] of SHAPES) SCENARIOS.push({ name: `${target}: ${shape} (peer ${peer})`, policies: make(target, peer) });
}

describe('netpol probe against the real dataplane', () => {
  let node: RealNode;
  let work: string;

  async function applySet(policies: Policy[]): Promise<void> {
    await node.kubectl(['delete', 'networkpolicy', '--all', '-n', NS, '--wait=true']);
    await node.kubectl(['delete', 'networkpolicy', '--all', '-n', OTHER_NS, '--wait=true']);
    if (policies.length > 0) {
      const file = join(work, 'set.yaml');
      writeFileSync(file, policies.map((p) => stringify(p)).join('---\n'));
      await node.kubectl(['apply', '-f', file]);
    }
    // kube-network-policies reconciles from its watch; give it a moment to program the rules.
    await new Promise((r) => setTimeout(r, 1500));
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('these tests need root (a real node)');
    if (!existsSync(MAIN)) execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'ignore' });
    work = mkdtempSync(join(tmpdir(), 'netpol-node-probe-'));
    node = await RealNode.start();
    const pod = (name: string, namespace: string, labels: Record<string, string>): Policy => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, labels },
      spec: {
        containers: [
          { name: 'server', image: 'docker.io/netpol/tcpserver:latest', args: ['80', '81'], ports: [{ name: 'http', containerPort: 80 }, { name: 'alt', containerPort: 81 }] },
        ],
      },
    });
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { team: 'green' } } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OTHER_NS, labels: { team: 'blue' } } },
      pod('a', NS, { app: 'a', tier: 'front' }),
      pod('b', NS, { app: 'b', tier: 'back' }),
      pod('c', NS, { app: 'c', tier: 'back' }),
      pod('d', OTHER_NS, { app: 'd' }),
    ];
    const file = join(work, 'pods.yaml');
    writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
    await node.kubectl(['apply', '-f', file]);
    await node.kubectl(['wait', '--for=condition=Ready', 'pod', '--all', '-n', NS, '--timeout=60s']);
    await node.kubectl(['wait', '--for=condition=Ready', 'pod', '--all', '-n', OTHER_NS, '--timeout=60s']);
  });

  afterAll(async () => {
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it.each(SCENARIOS.map((s, i) => [i, s.name] as const))('set %i (%s): every probe agrees with the prediction', async (i) => {
    await applySet(SCENARIOS[i]!.policies);
    const r = await netpol(['probe', '-A', '-l', 'app in (a,b,c,d)', '-p', '80', '-p', '81', '--to', `${OUTSIDE}:80`, '--timeout', '1', '-o', 'json', '--kubeconfig', node.kubeconfig]);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { probes: Array<{ agree: boolean }>; summary: { probes: number; disagree: number } };
    // 4 pods × (3 others × 2 ports + the outside address)
    expect(out.summary.probes).toBe(4 * 7);
    expect(out.probes.filter((p) => !p.agree)).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('lists disagreements and exits 1 when the prediction is not what the cluster enforces', async () => {
    await applySet([np('deny-in', { podSelector: all, policyTypes: ['Ingress'] })]);
    // Predicted with no policy at all (an empty file set): everything allowed, but ingress in probe-x is denied.
    const empty = join(work, 'empty');
    execFileSync('mkdir', ['-p', empty]);
    writeFileSync(join(empty, 'none.yaml'), '');
    const r = await netpol(['probe', '-n', NS, '-p', '80', '--timeout', '1', '--policies', empty, '--kubeconfig', node.kubeconfig]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^p\/probe-x\/a +- +\.\/X! +\.\/X!$/m);
    expect(r.stdout).toMatch(/disagreements \(observed ≠ predicted\):/);
    expect(r.stdout).toMatch(/p\/probe-x\/a → p\/probe-x\/b:80 {2}observed blocked \(timeout\), predicted allowed: no policy isolates either side/);
    expect(r.stdout).toMatch(/6 probes: 0 agree, 6 disagree/);
  });
});
