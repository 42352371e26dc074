// A Deployment calling a Service in another namespace by its DNS name, on the real node (CoreDNS
// really answers, kube-proxy really DNATs, kube-network-policies really enforces): netpol learns
// from what it observes on the node, the learned policies are applied with kubectl, and then
// everything still works — name resolution included — while a client nobody observed is refused
// by the real dataplane exactly where `netpol probe` predicted.
import { netpolAsync } from '../support/cli.js';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ensureBpfBuilt } from './support/agent-events.js';
import { RealNode } from './support/node.js';

const repo = resolve(import.meta.dirname, '..', '..');
const MAIN = join(repo, 'dist', 'cli', 'main.js');
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
    if (process.getuid?.() !== 0) throw new Error('these tests need root (a real node)');
    ensureBpfBuilt();
    if (!existsSync(MAIN)) execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'ignore' });
    work = mkdtempSync(join(tmpdir(), 'netpol-node-dns-'));
    node = await RealNode.start();
    const deployment = (name: string, namespace: string, labels: Record<string, string>, container: Record<string, unknown>): Record<string, unknown> => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name, ...container }] } } },
    });
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-web' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-client' } },
      deployment('web', 'shop-web', { app: 'web' }, { image: 'docker.io/netpol/tcpserver:latest', args: ['8080'], ports: [{ name: 'http', containerPort: 8080 }] }),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop-web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } },
      deployment('client', 'shop-client', { app: 'client' }, { image: 'busybox', command: ['sleep', '3600'] }),
      deployment('stranger', 'shop-client', { app: 'stranger' }, { image: 'busybox', command: ['sleep', '3600'] }),
    ];
    const file = join(work, 'apps.yaml');
    writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
    await node.kubectl(['apply', '-f', file]);
    for (const ns of ['shop-web', 'shop-client']) await node.kubectl(['wait', '--for=condition=Available', 'deployment', '--all', '-n', ns, '--timeout=90s']);
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
    let stderr = '';
    const learn: ChildProcess = node.spawnOnNode(
      ['env', `NETPOL_NODE_NAME=${node.name}`, process.execPath, MAIN, 'learn', '-A', '-l', 'app in (web,client)', '--out', out, '--kubeconfig', node.kubeconfig],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    learn.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => learn.on('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while (!stderr.includes('observing')) {
      if (Date.now() > deadline) throw new Error(`learn did not start:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await callFrom('app=client')).toMatch(/^tcpserver /);
    await new Promise((r) => setTimeout(r, 1000));
    learn.kill('SIGINT');
    expect(await exited).toBe(0);
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
