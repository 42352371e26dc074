/**
 * The live learn screen in a real terminal: tmux runs the driver (test/e2e/support/
 * learn-screen-driver.tsx), this test makes real TCP connections over loopback between addresses
 * the snapshot gives to pods, reads the screen with capture-pane until the rows for those
 * connections appear, filters with /, then presses q and checks the policies written to --out.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmux, waitOn } from './support/tmux.js';

const repo = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'netpol-tmux-'));
const sessionBase = `netpol-learn-${process.pid}`;
const sessions: string[] = [];
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

// Pods on loopback addresses: shop/web (a Deployment's pod) and shop/api-0 and payments/ledger-0.
const CLUSTER = `apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {kubernetes.io/metadata.name: shop}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: payments, labels: {kubernetes.io/metadata.name: payments}}}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    name: web-5d4f8
    namespace: shop
    labels: {app: web, pod-template-hash: 5d4f8}
    ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: u1, controller: true}]
  spec: {selector: {matchLabels: {app: web, pod-template-hash: 5d4f8}}}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-5d4f8-x1
    namespace: shop
    labels: {app: web, pod-template-hash: 5d4f8}
    ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f8, uid: u2, controller: true}]
  spec: {containers: [{name: web, image: nginx}]}
  status: {phase: Running, podIP: 127.0.0.10}
- apiVersion: v1
  kind: Pod
  metadata: {name: api-0, namespace: shop, labels: {app: api}}
  spec: {containers: [{name: api, image: api}]}
  status: {phase: Running, podIP: 127.0.0.20}
- apiVersion: v1
  kind: Pod
  metadata: {name: ledger-0, namespace: payments, labels: {app: ledger}}
  spec: {containers: [{name: ledger, image: pg}]}
  status: {phase: Running, podIP: 127.0.0.30}
`;

/** A real TCP connection from one loopback address to another, closed once accepted. */
function connectFrom(localAddress: string, host: string, port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const sock = connect({ host, port, localAddress }, () => {
      sock.end();
      resolvePromise();
    });
    sock.on('error', reject);
    sock.setTimeout(5000, () => reject(new Error('connect timeout')));
  });
}

beforeAll(() => {
  writeFileSync(join(dir, 'cluster.yaml'), CLUSTER);
});

afterAll(() => {
  if (hasTmux) for (const s of sessions) spawnSync('tmux', ['kill-session', '-t', s]);
  if (!process.env.NETPOL_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

const canTrace = process.getuid?.() === 0 && existsSync(join(repo, 'bpf/tcpconnect.bpf.o'));

async function learnInTmux(mode: 'accept' | 'ebpf', title: string): Promise<void> {
  const work = join(dir, mode);
  mkdirSync(work);
  const out = join(work, 'policies');
  const ports = join(work, 'ports.json');
  const exitFile = join(work, 'exit');
  const driver = join(repo, 'test/e2e/support/learn-screen-driver.tsx');
  const session = `${sessionBase}-${mode}`;
  sessions.push(session);
  const screen = () => tmux('capture-pane', '-p', '-t', session);
  const waitFor = (what: string, cond: (text: string) => boolean, ms?: number) => waitOn(screen, what, cond, ms);
  // A person's terminal: CI=true (set for the test run) would make ink draw only its last frame.
  const cmd = `cd ${repo} && env -u CI -u CONTINUOUS_INTEGRATION NETPOL_DRIVER_SOURCE=${mode} npx vite-node ${driver} -- ${join(dir, 'cluster.yaml')} ${out} ${ports}; echo "exit=$?" > ${exitFile}; sleep 30`;
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '45', cmd);

  // vite-node compiles the driver first: allow a slow first start on a fresh clone.
  await waitFor('the screen', (t) => t.includes(`netpol learn · ${title}`) && t.includes('waiting for connections'), 120_000);
  await waitFor('the listeners', () => existsSync(ports));
  const p = JSON.parse(readFileSync(ports, 'utf8')) as Record<string, number>;

  // web → api twice, api → ledger once, web → an address that is no pod.
  await connectFrom('127.0.0.10', '127.0.0.20', p['127.0.0.20']!);
  await connectFrom('127.0.0.10', '127.0.0.20', p['127.0.0.20']!);
  await connectFrom('127.0.0.20', '127.0.0.30', p['127.0.0.30']!);
  await connectFrom('127.0.0.10', '127.0.0.99', p['127.0.0.99']!);

  const shown = await waitFor('the rows', (t) => t.includes('r/127.0.0.99') && t.includes('p/payments/ledger-0') && /POLICIES → .*3 new/.test(t));
  if (process.env.NETPOL_KEEP_E2E) writeFileSync(join(work, 'screen.txt'), shown);
  const lines = shown.split('\n');
  expect(shown).toContain('events 4');
  expect(shown).toContain('flows 4');
  expect(shown).toContain('lost 0');
  expect(lines.find((l) => l.includes(`p/shop/api-0:${p['127.0.0.20']}`))).toMatch(new RegExp(`^shop/web +Deployment +p/shop/api-0:${p['127.0.0.20']} +${p['127.0.0.20']}/TCP +2 `));
  expect(lines.find((l) => l.includes('p/payments/ledger-0'))).toMatch(/^shop\/api-0 +Pod +p\/payments\/ledger-0:\d+ +\d+\/TCP +1 /);
  expect(lines.find((l) => l.includes('r/127.0.0.99'))).toMatch(new RegExp(`^ +r/127\\.0\\.0\\.99:${p['127.0.0.99']} +${p['127.0.0.99']}/TCP +1 `));
  expect(shown).toMatch(/\+ shop\/web +new/);
  expect(shown).toMatch(/\+ payments\/ledger-0 +new/);

  // Filter to one workload.
  tmux('send-keys', '-t', session, '/');
  tmux('send-keys', '-t', session, '-l', 'ledger');
  const filtered = await waitFor('the filter', (t) => t.includes('filter: ledger') && !t.includes('r/127.0.0.99'));
  expect(filtered).toContain('p/payments/ledger-0');
  tmux('send-keys', '-t', session, 'Escape');
  await waitFor('the filter cleared', (t) => t.includes('r/127.0.0.99') && t.includes('q finish and write'));

  tmux('send-keys', '-t', session, 'q');
  const final = await waitFor('the write', (t) => t.includes('driver done'));
  expect(final).toMatch(/wrote 4 files to .*policies/);
  expect(final).toContain('driver done: reason=quit flows=4 written=4');
  await waitFor('the driver to exit', () => existsSync(exitFile));
  expect(readFileSync(exitFile, 'utf8').trim()).toBe('exit=0');
  const web = readFileSync(join(out, 'shop', 'web.yaml'), 'utf8');
  expect(web).toContain('kind: NetworkPolicy');
  expect(web).toContain('app: api');
  expect(web).toContain('127.0.0.99/32');
  expect(readFileSync(join(out, 'kustomization.yaml'), 'utf8')).toContain('shop/web.yaml');
}

describe.skipIf(!hasTmux)('learn screen in tmux', () => {
  it('shows the rows of the connections this test makes, filters, and q writes the policies', () => learnInTmux('accept', 'e2e loopback'), 240_000);

  // The real agent: the kernel sees this test's connects, and the screen shows them.
  it.skipIf(!canTrace)('fed by the eBPF tcpconnect agent: the kernel sees this test\'s connects and the screen shows them', () =>
    learnInTmux('ebpf', 'eBPF tcpconnect, host processes'), 240_000);
});
