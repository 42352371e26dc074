// The node agent's kernel de-duplication of allowed edges (src/daemon/kernel-dedup.ts,
// bpf/allowed-edges.h), with the real kernel, the agent's default sinks (traffic profiles + live
// judge) and a real API server (test/cluster): a pod's many connects to an allowed edge are counted
// in the kernel, and after the sweep the profile and the judge have counted every one of them
// exactly while only a few events came through the ring; a staged policy that makes the edge
// would-deny turns the very next connects into findings again (the generation bump); a /v1/connects
// client gets every connect while it streams (dedup off), and dedup is on again once it left.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStaged, deleteStaged } from '../../src/cluster/staged/client.js';
import type { StagedNetworkPolicy } from '../../src/cluster/staged/types.js';
import { NodeAgent } from '../../src/daemon/node-agent.js';
import { judgeSinkFactory } from '../../src/daemon/judge-sink.js';
import { defaultSinks } from '../../src/daemon/sinks.js';
import { until } from '../support/until.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { createNamespace, ensureCluster, TestNode, type TestCluster, type TestPod } from './support/cluster.js';
import { destroyAll } from './support/netns.js';
import { installCrds } from './support/crds.js';

const SERVER = '203.0.113.60';
const NODE = 'kdedup-node';

describe('kernel de-duplication of allowed edges, with the real kernel and a real API server', () => {
  let c: TestCluster;
  let node: TestNode;
  let agent: NodeAgent;
  let ns: string;
  let client: TestPod;

  /** `n` connects from the client pod to SERVER:80, one after another (one shell, busybox wget). */
  const connects = async (n: number): Promise<void> => {
    const p = client.exec([join(node.bin, 'sh'), '-c', `i=0; while [ $i -lt ${n} ]; do ${join(node.bin, 'wget')} -q -O /dev/null http://${SERVER}:80/ || exit 1; i=$((i+1)); done`]);
    expect(await p.exited).toBe(0);
  };
  /** One connect, delivered (through the ring: the edge's first in a generation), before the next snapshot. */
  const firstConnect = async (): Promise<void> => {
    const before = figures().answered;
    await connects(1);
    await until('the first connect delivered', () => figures().answered > before);
  };
  const figures = () => {
    const s = agent.status();
    return {
      // This node's pods' connects that came through the ring (attributed), not counted in the
      // kernel. Not events.total: that counts every container's events on this shared machine,
      // other suites' too.
      ring: s.connects.answered - (s.connects.dedupedInKernel ?? 0),
      answered: s.connects.answered,
      deduped: s.connects.dedupedInKernel ?? 0,
      observed: Number(s.sinks.profile?.observed ?? 0),
      judged: Number(s.sinks.judge?.judged ?? 0),
      wouldDeny: Number(s.sinks.judge?.wouldDeny ?? 0),
      on: s.kernelDedup?.on,
    };
  };
  const delta = (a: ReturnType<typeof figures>, b: ReturnType<typeof figures>) => ({
    ring: b.ring - a.ring,
    answered: b.answered - a.answered,
    deduped: b.deduped - a.deduped,
    observed: b.observed - a.observed,
    judged: b.judged - a.judged,
    wouldDeny: b.wouldDeny - a.wouldDeny,
  });

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (eBPF)');
    ensureBpfBuilt();
    c = await ensureCluster();
    await installCrds(c, ['stagednetworkpolicies', 'trafficprofiles']);
    process.env.NETPOL_PROFILE_DIR = mkdtempSync(join(tmpdir(), 'kdedup-profile-'));
    node = await TestNode.create(c, NODE);
    await node.addOutsideHost(SERVER, [80]);
    ns = await createNamespace(c, 'kdedup');
    agent = new NodeAgent({
      node: NODE,
      kubeconfig: c.kubeconfig,
      api: { host: '127.0.0.1', port: 0 },
      health: { host: '127.0.0.1', port: 0 },
      sinks: defaultSinks(),
      // Other test pods on this machine are containers this view never knows (see k8s-audit-replay).
      holdMs: 1000,
      log: () => {},
    });
    await agent.start();
    client = await node.runPod(ns, { name: 'client', labels: { app: 'client' } });
    // Attributed once (the pod in the view): the edge is in the kernel's table from here on.
    const before = figures();
    await client.wget(SERVER, 80);
    await until('the first connect judged', () => figures().judged > before.judged);
  }, 90_000);

  afterAll(async () => {
    await agent?.stop();
    await node?.destroy();
    destroyAll();
  });

  it('counts an allowed edge\'s connects in the kernel: profile and judge count every one after the sweep, few events come through the ring', async () => {
    expect(figures().on).toBe(true);
    const before = figures();
    const N = 200;
    await connects(N);
    // status() sweeps first: its figures include what the kernel counted until now.
    await until('every connect counted', () => figures().answered - before.answered >= N, 20_000);
    await new Promise((r) => setTimeout(r, 1500)); // a timed sweep too: nothing counted twice
    const d = delta(before, figures());
    expect(d.answered).toBe(N);
    expect(d.observed).toBe(N);
    expect(d.judged).toBe(N);
    expect(d.wouldDeny).toBe(0);
    // Far fewer through the ring (the first connects raced the table's write, if any).
    expect(d.ring).toBeLessThanOrEqual(N / 10);
    expect(d.deduped).toBeGreaterThanOrEqual(N - 20);
    expect(d.deduped + d.ring).toBe(N);
    expect(agent.status().kernelDedup).toMatchObject({ on: true, orphaned: 0 });
  });

  it('a staged policy that makes the edge would-deny: the very next connects are findings, one per connect', async () => {
    const start = figures();
    await applyStaged(c.kc, { metadata: { name: 'deny-egress', namespace: ns }, spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'] } } as StagedNetworkPolicy);
    // The judge has it once a connect of the edge is a finding (other suites' staged policies share
    // this API server, so the judge's count of them says nothing). Without the generation bump the
    // edge's connects stay counted in the kernel, and none ever is.
    for (let i = 0; figures().wouldDeny === start.wouldDeny; i++) {
      if (i > 100) throw new Error('no connect became a finding after the staged policy was applied');
      await connects(1);
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = figures();
    await connects(5);
    await until('five findings', () => figures().wouldDeny - before.wouldDeny >= 5, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const d = delta(before, figures());
    expect(d.wouldDeny).toBe(5);
    expect(d.answered).toBe(5);
    expect(d.ring).toBe(5); // each through the ring, judged
    expect(d.deduped).toBe(0);
    // Unstaged: allowed again (once the judge's watch has it), and counted in the kernel again after its first connect.
    await deleteStaged(c.kc, ns, 'deny-egress');
    for (let i = 0; ; i++) {
      if (i > 100) throw new Error('connects stayed findings after the staged policy was deleted');
      const probe = figures();
      await connects(1);
      await new Promise((r) => setTimeout(r, 100));
      if (figures().wouldDeny === probe.wouldDeny) break;
    }
    await firstConnect();
    const again = figures();
    await connects(50);
    await until('50 more counted', () => figures().answered - again.answered >= 50, 20_000);
    const d2 = delta(again, figures());
    expect(d2.answered).toBe(50);
    expect(d2.wouldDeny).toBe(0);
    expect(d2.ring).toBeLessThanOrEqual(5);
  });

  it('a /v1/connects client turns it off (every connect streamed) and on again once it left', async () => {
    const lines: string[] = [];
    let buf = '';
    const req = http.get({ host: '127.0.0.1', port: agent.apiAddress!.port, path: `/v1/connects?when=answer&namespace=${ns}`, agent: false }, (res) => {
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        lines.push(...parts.filter((l) => l !== ''));
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    try {
      await until('dedup off while the client streams', () => agent.status().kernelDedup?.on === false);
      expect(agent.status().kernelDedup?.off).toMatch(/1 \/v1\/connects client streaming/);
      const before = figures();
      await connects(30);
      await until('30 lines streamed', () => lines.filter((l) => l.includes(SERVER)).length >= 30, 20_000);
      const d = delta(before, figures());
      expect(d.ring).toBe(30);
      expect(d.deduped).toBe(0);
      expect(lines.filter((l) => l.includes(SERVER))).toHaveLength(30);
    } finally {
      req.destroy();
    }
    await until('dedup on again', () => agent.status().kernelDedup?.on === true);
    await firstConnect();
    const after = figures();
    await connects(40);
    await until('40 more counted', () => figures().answered - after.answered >= 40, 20_000);
    const d = delta(after, figures());
    expect(d.answered).toBe(40);
    expect(d.ring).toBeLessThanOrEqual(5);
  });

  it('pinned: a stopped agent hands over every count and turns counting off, so the connects made while none runs reach the next one', async () => {
    const fs = mkdtempSync(join(tmpdir(), 'kdedup-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
    const pinned = (): NodeAgent =>
      new NodeAgent({
        node: NODE,
        kubeconfig: c.kubeconfig,
        api: { host: '127.0.0.1', port: 0 },
        health: { host: '127.0.0.1', port: 0 },
        sinks: [judgeSinkFactory()],
        holdMs: 1000,
        pin: { mode: 'on', root: join(fs, 'netpol') },
        log: () => {},
      });
    let first: NodeAgent | undefined;
    let second: NodeAgent | undefined;
    try {
      first = pinned();
      await first.start();
      await until('the first agent counting in the kernel', () => first!.status().kernelDedup?.on === true);
      const answered = (a: NodeAgent): number => a.status().connects.answered;
      for (let i = 0; answered(first) === 0; i++) {
        if (i > 50) throw new Error('the pinned agent saw no connect');
        await connects(1);
        await new Promise((r) => setTimeout(r, 100));
      }
      const base = answered(first);
      await connects(60);
      await first.stop();
      // Swept at stop: every connect counted, most of them in the kernel.
      expect(first.status().connects.answered - base).toBe(60);
      expect(first.status().connects.dedupedInKernel).toBeGreaterThanOrEqual(50);
      // No agent: the pinned programs record every connect in the ring (counting is off).
      await connects(30);
      second = pinned();
      await second.start();
      expect(second.status().kernelState).toMatchObject({ pinned: true, reopened: true });
      await until('the gap\'s connects read by the next agent', () => answered(second!) >= 30, 20_000);
      await new Promise((r) => setTimeout(r, 1200));
      expect(answered(second)).toBe(30);
      expect(second.status().kernelDedup).toMatchObject({ orphaned: 0 });
      expect(second.status().connects.dedupedInKernel ?? 0).toBe(0); // each through the ring
    } finally {
      await first?.stop();
      await second?.stop();
      execFileSync('umount', [fs]);
      rmSync(fs, { recursive: true, force: true });
    }
  }, 60_000);

  it('stopping with a /v1/connects client: the client leaving does not turn counting on again; off, because stopping', async () => {
    let opened = false;
    const req = http.get({ host: '127.0.0.1', port: agent.apiAddress!.port, path: `/v1/connects?when=answer&namespace=${ns}`, agent: false }, (res) => {
      opened = true;
      res.on('data', () => {});
      res.on('error', () => {});
    });
    req.on('error', () => {});
    try {
      await until('dedup off while the client streams', () => opened && agent.status().kernelDedup?.on === false);
      await agent.stop();
      expect(agent.status().kernelDedup).toMatchObject({ on: false, off: 'stopping' });
    } finally {
      req.destroy();
    }
  });
});
