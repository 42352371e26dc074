// A Deployment calling a Service in another namespace by its DNS name, on the real node (CoreDNS
// really answers, kube-proxy really DNATs, kube-network-policies really enforces): netpol learns
// from what it observes on the node, the learned policies are applied with kubectl, and then
// everything still works — name resolution included — while a client nobody observed is refused
// by the real dataplane exactly where `netpol probe` predicted.
import { netpolAsync } from '../support/cli.js';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RealNode } from './support/node.js';
import { applyShop, deployment, startLearn, startNodeSuite } from './support/node-suite.js';

const SERVICE_NAME = 'web.shop-web.svc.cluster.local';

/** The real `netpol` binary run on the host (as a user's shell would). */
const netpol = netpolAsync;

describe('a Deployment calling a Service in another namespace by name, learned and enforced', () => {
  let node: RealNode;
  let work: string;

  /** Runs `nc SERVICE_NAME 80` in a pod of the client namespace; resolves with its output line or the failure. */
  async function callFrom(selector: string): Promise<string> {
    const pod = (await node.kubectl(['get', 'pods', '-n', 'shop-client', '-l', selector, '-o', 'jsonpath={.items[0].metadata.name}'])).stdout;
    const r = await node.kubectl(['exec', '-n', 'shop-client', pod, '--', 'sh', '-c', `timeout 3 nc ${SERVICE_NAME} 80 </dev/null || echo unreachable`], { allowFail: true });
    return r.stdout.trim();
  }

  beforeAll(async () => {
    ({ node, work } = await startNodeSuite('netpol-node-dns-'));
    await applyShop(node, work, [deployment('stranger', 'shop-client', { app: 'stranger' }, { image: 'busybox', command: ['sleep', '3600'] })]);
  });

  afterAll(async () => {
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('learns from the observed calls, and after applying the client still reaches the Service by name; the stranger is refused where netpol predicted', async () => {
    // Before any policy: both clients reach the Service by its name (once kube-proxy has the
    // Service's endpoints: Available deployments do not wait for that).
    const ready = Date.now() + 30_000;
    while (!/^tcpserver /.test(await callFrom('app=client')) && Date.now() < ready) await new Promise((r) => setTimeout(r, 500));
    expect(await callFrom('app=client')).toMatch(/^tcpserver web-\S+ port 8080$/);
    expect(await callFrom('app=stranger')).toMatch(/^tcpserver web-\S+ port 8080$/);

    // netpol learn on the node's side while the client calls (the stranger is not in scope).
    const out = join(work, 'policies');
    const learn = await startLearn(node, ['-A', '-l', 'app in (web,client)', '--out', out]);
    expect(await callFrom('app=client')).toMatch(/^tcpserver /);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await learn.interrupt()).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['kustomization.yaml', 'shop-client', 'shop-web']);

    // Apply what was learned, as a user would (the output directory is a kustomization).
    await node.kubectl(['apply', '-k', out]);
    await new Promise((r) => setTimeout(r, 1500));

    // Still works, name resolution included (the client's egress allows the cluster DNS).
    expect(await callFrom('app=client')).toMatch(/^tcpserver web-\S+ port 8080$/);
    // The unobserved client is refused by the real dataplane.
    expect(await callFrom('app=stranger')).toBe('unreachable');

    // …exactly where netpol predicted: probe agrees with the enforcement on every pair.
    const probe = await netpol(['probe', '-A', '-l', 'app in (web,client,stranger)', '-p', '8080', '--timeout', '1', '-o', 'json', '--kubeconfig', node.kubeconfig]);
    expect(probe.stderr).toBe('');
    const result = JSON.parse(probe.stdout) as { probes: Array<{ src: string; dst: string; observed: string; predicted: string; agree: boolean }> };
    expect(result.probes.filter((p) => !p.agree)).toEqual([]);
    const toWeb = result.probes.filter((p) => p.dst.startsWith('p/shop-web/web-'));
    expect(toWeb.map((p) => [p.src.replace(/-[a-z0-9]+-[a-z0-9]+$/, ''), p.observed, p.predicted]).sort()).toEqual([
      ['p/shop-client/client', 'reachable', 'allowed'],
      ['p/shop-client/stranger', 'blocked', 'denied'],
    ]);
    expect(probe.code).toBe(0);
  });
});
