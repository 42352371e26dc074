/**
 * What the real-node e2e suites (node-*.test.ts) share on top of RealNode: starting the node with
 * the prerequisites checked, watching a process's output, netpol run on the node's side as its agent
 * runs, the CLI as a workstation user, and the objects a suite applies.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { defaultImage } from '../../../src/cluster/deploy.js';
import type { V1NetworkPolicy } from '../../../src/cluster/objects.js';
import { userCli } from '../../support/cli.js';
import { ensureBpfBuilt } from './agent-events.js';
import { RealNode } from './node.js';

const repo = resolve(import.meta.dirname, '..', '..', '..');
/** The real netpol binary (dist/, built by startNodeSuite when missing). */
export const MAIN = join(repo, 'dist', 'cli', 'main.js');

/** Root, the BPF objects and dist/ present (CI builds dist/ in scripts/setup.sh; a bare checkout gets one build here). */
export function nodePrerequisites(): void {
  if (process.getuid?.() !== 0) throw new Error('these tests need root (a real node: namespaces, cgroups, eBPF)');
  ensureBpfBuilt();
  if (!existsSync(MAIN)) execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'ignore' });
}

/** A suite's beforeAll: the prerequisites, a work directory (WORK_PREFIX…), the node started. */
export async function startNodeSuite(workPrefix: string): Promise<{ node: RealNode; work: string }> {
  nodePrerequisites();
  const work = mkdtempSync(join(tmpdir(), workPrefix));
  const node = await RealNode.start();
  return { node, work };
}

/**
 * netpol's image built from this checkout (test/node/netpol-image.sh, into WORK/image) and pushed to
 * the node's registry under the ref `netpol deploy` defaults to; how long each took and the size.
 */
export function pushNetpolImage(node: RealNode, work: string): { imageBuildMs: number; imageBytes: number; pushMs: number } {
  const layout = join(work, 'image');
  let t = Date.now();
  // Its stderr kept for the error: inherited, it never reached the log of two failed runs.
  const built = spawnSync('bash', ['-x', join(repo, 'test/node/netpol-image.sh'), layout], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (built.status !== 0) throw new Error(`test/node/netpol-image.sh failed (exit ${built.status}, signal ${built.signal}):\n${built.stderr.split('\n').slice(-40).join('\n')}`);
  const imageBuildMs = Date.now() - t;
  const imageBytes = Number(execFileSync('du', ['-sb', layout], { encoding: 'utf8' }).split('\t')[0]);
  t = Date.now();
  const ref = execFileSync('bash', [join(repo, 'test/node/push-image.sh'), node.dir, layout], { encoding: 'utf8' }).trim();
  if (ref !== defaultImage()) throw new Error(`test/node/push-image.sh pushed ${ref}, not ${defaultImage()} (what deploy defaults to)`);
  return { imageBuildMs, imageBytes, pushMs: Date.now() - t };
}

/** A copy of the node's kubeconfig that uid 65534 can read, in WORK (made enterable for it). */
export function userKubeconfigIn(node: RealNode, work: string): string {
  chmodSync(work, 0o755);
  const file = join(work, 'kubeconfig');
  copyFileSync(node.kubeconfig, file);
  chmodSync(file, 0o644);
  return file;
}

/** Every policy of a `learn --out` directory (DIR/<namespace>/<file>), with its file. */
export function policiesIn(dir: string): Array<{ file: string; policy: V1NetworkPolicy }> {
  const out: Array<{ file: string; policy: V1NetworkPolicy }> = [];
  for (const ns of readdirSync(dir, { withFileTypes: true })) {
    if (!ns.isDirectory()) continue;
    for (const f of readdirSync(join(dir, ns.name))) {
      const file = join(dir, ns.name, f);
      for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) out.push({ file, policy: doc.toJS() as V1NetworkPolicy });
    }
  }
  return out;
}

/** A child process's output as it comes (stdout and stderr when piped), and its exit. */
export class Watched {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    this.child.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  get lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  async waitFor(what: string, test: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Ctrl-C, as a user stops it; resolves with the exit code. */
  interrupt(): Promise<number | null> {
    this.child.kill('SIGINT');
    return this.exited;
  }
}

/** A workstation user: uid/gid 65534 with no groups, only PATH, a home and a kubeconfig it can read. */
export interface WorkstationUser {
  home: string;
  kubeconfig: string;
  cwd?: string;
}

/** `netpol ARGS` as that user (setpriv), stdout and stderr piped. */
export function spawnAsUser(user: WorkstationUser, args: string[], timeoutMs?: number): ChildProcess {
  return spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, userCli(), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: user.cwd,
    env: { PATH: process.env.PATH, HOME: user.home, KUBECONFIG: user.kubeconfig },
    timeout: timeoutMs,
  });
}

/** `netpol ARGS` as that user, to its end. */
export async function runAsUser(user: WorkstationUser, args: string[], timeoutMs = 180_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new Watched(spawnAsUser(user, args, timeoutMs));
  const code = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}

/** argv that runs `netpol ARGS --kubeconfig …` on the node's side as its agent would (NETPOL_NODE_NAME set). */
export function netpolOnNodeArgv(node: RealNode, args: string[]): string[] {
  return ['env', `NETPOL_NODE_NAME=${node.name}`, process.execPath, MAIN, ...args, '--kubeconfig', node.kubeconfig];
}

/** `netpol ARGS` on the node's side, its output watched. */
export function netpolOnNode(node: RealNode, args: string[], stdio: 'ignore' | 'pipe' = 'pipe'): Watched {
  return new Watched(node.spawnOnNode(netpolOnNodeArgv(node, args), { stdio: ['ignore', stdio, 'pipe'] }));
}

/** `netpol learn ARGS` on the node's side, resolved once it says it is observing. */
export async function startLearn(node: RealNode, args: string[]): Promise<Watched> {
  const learn = netpolOnNode(node, ['learn', ...args], 'ignore');
  await learn.waitFor('learn to start observing', () => learn.stderr.includes('observing'));
  return learn;
}

/** A one-replica Deployment of one container named after it. */
export function deployment(name: string, namespace: string, labels: Record<string, string>, container: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: { replicas: 1, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name, ...container }] } } },
  };
}

/**
 * netpol's CRDs applied as `kubectl netpol deploy` applies them (for suites that run the agent outside
 * a pod, without deploy), and waited for until both list. Established is not served yet: the API
 * server answers 429 "storage is (re)initializing" for a moment, which the agent would (rightly)
 * report as a not-ready sink.
 */
export async function installNetpolCrds(node: RealNode): Promise<void> {
  const crds = ['trafficprofiles', 'stagednetworkpolicies'];
  await node.kubectl(['apply', '--server-side', ...crds.flatMap((c) => ['-f', join(repo, 'deploy', 'crds', `${c}.yaml`)])]);
  await node.kubectl(['wait', '--for', 'condition=established', '--timeout', '60s', ...crds.map((c) => `crd/${c}.netpol.io`)]);
  for (const c of crds) {
    const deadline = Date.now() + 60_000;
    while ((await node.kubectl(['get', `${c}.netpol.io`, '-A'], { allowFail: true })).code !== 0) {
      if (Date.now() > deadline) throw new Error(`${c}.netpol.io not served 60 s after the CRD was established`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Writes the objects to WORK/apps.yaml and applies them with kubectl. */
export async function applyObjects(node: RealNode, work: string, objects: Record<string, unknown>[]): Promise<void> {
  const file = join(work, 'apps.yaml');
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  await node.kubectl(['apply', '-f', file]);
}

/** The shop the DNS and staged suites use: web (a tcpserver behind Service web:80) in shop-web, a client in shop-client, and `extra`. */
export function shopObjects(extra: Record<string, unknown>[] = []): Record<string, unknown>[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-web' } },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-client' } },
    deployment('web', 'shop-web', { app: 'web' }, { image: 'docker.io/netpol/tcpserver:latest', args: ['8080'], ports: [{ name: 'http', containerPort: 8080 }] }),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop-web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } },
    deployment('client', 'shop-client', { app: 'client' }, { image: 'busybox', command: ['sleep', '3600'] }),
    ...extra,
  ];
}

/** Applies the shop and waits for its Deployments. */
export async function applyShop(node: RealNode, work: string, extra: Record<string, unknown>[] = []): Promise<void> {
  await applyObjects(node, work, shopObjects(extra));
  for (const ns of ['shop-web', 'shop-client']) await node.kubectl(['wait', '--for=condition=Available', 'deployment', '--all', '-n', ns, '--timeout=90s']);
}
