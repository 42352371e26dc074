// The seed walkthrough in cluster mode, for real: pods created through the API server with their
// status written as a kubelet would, their processes in network namespaces and kubelet-style
// cgroups, the real eBPF agent, and the real API server.
//
//   trace tcpconnect --podname mypod     prints the seed's lines (203.0.113.10 stands in for 1.1.1.1)
//   learn -l run=mypod --apply           writes and applies the seed's policy (80 + 443; UDP observed, no lookup made: no DNS rule)
//   diff --live                          flags a later connect to another address (198.51.100.20)
//   a client of a Service ClusterIP      reads s/ns/svc:port; its policy allows the backends on the targetPort
//   the API server restarting mid-learn  loses no flows
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { learnLive, type LearnLiveOptions } from '../../src/cli/commands/learn/live.js';
import { runTraceK8s, type TraceK8sOptions } from '../../src/cli/commands/trace/cluster.js';
import { runLiveDiff } from '../../src/cli/commands/diff/live.js';
import { LiveClusterView } from '../../src/cluster/live.js';
import type { V1NetworkPolicy } from '../../src/cluster/objects.js';
import type { FlowRecord } from '../../src/flows/record.js';
import { normalizePolicy } from '../../src/policy/semantic-diff.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import {
  createNamespace,
  ensureCluster,
  startApiserver,
  stopApiserver,
  TestNode,
  writeEndpointSlice,
  type TestCluster,
  type TestPod,
} from './support/cluster.js';
import { destroyAll } from './support/netns.js';

const INTERNET = '203.0.113.10'; // the seed's 1.1.1.1
const ELSEWHERE = '198.51.100.20'; // the seed's 1.0.0.1
const NODE = 'minikube-docker';
const SEED_HEADER =
  'K8S.NODE                 K8S.NAMESPACE            K8S.POD                  K8S.CONTAINER            PID        COMM          IP SRC                     DST';

class Lines extends Writable {
  text = '';
  private waiters: Array<() => void> = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    for (const w of this.waiters.splice(0)) w();
    done();
  }
  get lines(): string[] {
    return this.text.split('\n').filter((l) => l !== '');
  }
  async waitForLines(n: number, timeoutMs = 15_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} lines, got:\n${this.text}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return this.lines;
  }
}

/** Starts a trace; returns its output and a function that stops it and resolves with the exit code. */
async function startTrace(view: LiveClusterView, opts: TraceK8sOptions): Promise<{ out: Lines; err: Lines; stop: () => Promise<number> }> {
  const out = new Lines();
  const err = new Lines();
  const abort = new AbortController();
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const running = runTraceK8s(opts, { stdout: out, stderr: err, signal: abort.signal, onReady: ready, view });
  await Promise.race([started, running]);
  return {
    out,
    err,
    stop: async () => {
      abort.abort();
      return running;
    },
  };
}

async function startLearn(view: LiveClusterView, opts: LearnLiveOptions): Promise<{ err: Lines; stop: () => Promise<number> }> {
  const err = new Lines();
  const abort = new AbortController();
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const running = learnLive(opts, { stdout: new Lines(), stderr: err, signal: abort.signal, onReady: ready, view });
  await Promise.race([started, running]);
  return {
    err,
    stop: async () => {
      abort.abort();
      return running;
    },
  };
}

function readFlowsFile(path: string): FlowRecord[] {
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as FlowRecord)
    : [];
}

async function waitForFlows(path: string, n: number, timeoutMs = 15_000): Promise<FlowRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const flows = readFlowsFile(path);
    if (flows.length >= n) return flows;
    if (Date.now() > deadline) throw new Error(`expected ${n} flows in ${path}, got ${JSON.stringify(flows)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function policiesIn(dir: string): V1NetworkPolicy[] {
  const out: V1NetworkPolicy[] = [];
  for (const ns of readdirSync(dir, { withFileTypes: true })) {
    if (!ns.isDirectory()) continue;
    for (const f of readdirSync(join(dir, ns.name))) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, ns.name, f), 'utf8'))) out.push(doc.toJS() as V1NetworkPolicy);
    }
  }
  return out;
}

const repo = resolve(import.meta.dirname, '..', '..');
const MAIN = join(repo, 'dist', 'cli', 'main.js');

/** Runs the real `netpol` binary; resolves when it exits. `onStderr` sees stderr as it comes. */
function netpol(args: string[], onStderr?: (text: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      onStderr?.(stderr);
    });
    child.on('exit', (code) => resolvePromise({ code, stdout, stderr }));
  });
}


describe('cluster mode against a real API server and the real kernel', () => {
  let c: TestCluster;
  let node: TestNode;
  let view: LiveClusterView;
  let work: string;
  let mypod: TestPod;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('these tests need root (eBPF, network namespaces, cgroups)');
    ensureBpfBuilt();
    c = await ensureCluster();
    work = mkdtempSync(join(tmpdir(), 'netpol-k8s-e2e-'));
    node = await TestNode.create(c, NODE);
    await node.addOutsideHost(INTERNET, [80, 443]);
    await node.addOutsideHost(ELSEWHERE, []);
    view = await LiveClusterView.connect({ kubeconfig: c.kubeconfig });
    mypod = await node.runPod('default', { name: 'mypod', labels: { run: 'mypod' } });
    await view.waitFor((i) => i.pod('default', 'mypod')?.status?.podIP, 10_000);
  });

  afterAll(async () => {
    await view?.close();
    await node?.destroy();
    destroyAll();
    if (work) rmSync(work, { recursive: true, force: true });
    await c?.networking.deleteCollectionNamespacedNetworkPolicy({ namespace: 'default' }).catch(() => undefined);
  });

  it('trace tcpconnect --podname mypod prints the seed lines', async () => {
    const other = await node.runPod('default', { name: 'otherpod', labels: { run: 'otherpod' } });
    await view.waitFor((i) => i.pod('default', 'otherpod')?.status?.podIP, 10_000);
    const trace = await startTrace(view, { podname: 'mypod' });
    const pid80 = await mypod.wget(INTERNET, 80);
    const pid443 = await mypod.wget(INTERNET, 443);
    await other.wget(INTERNET, 80); // another pod: filtered out
    const lines = await trace.out.waitForLines(3);
    await new Promise((r) => setTimeout(r, 500));
    expect(await trace.stop()).toBe(0);
    expect(trace.out.lines[0]).toBe(SEED_HEADER);
    expect(trace.out.lines).toHaveLength(3);
    for (const [row, pid, port] of [
      [lines[1]!, pid80, 80],
      [lines[2]!, pid443, 443],
    ] as const) {
      const sport = /p\/default\/mypod:(\d+)/.exec(row)?.[1];
      expect(sport).toBeDefined();
      const expected =
        `${NODE.padEnd(24)} ${'default'.padEnd(24)} ${'mypod'.padEnd(24)} ${'mypod'.padEnd(24)} ${String(pid).padEnd(10)} ${'wget'.padEnd(13)} ${'4'.padEnd(2)} ` +
        `${`p/default/mypod:${sport}`.padEnd(23)} r/${INTERNET}:${port}`;
      expect(row).toBe(expected);
    }
    expect(trace.err.text).toMatch(/^2 connects traced, 0 lost\n$/);
  });

  it('learn -l run=mypod --apply writes and applies the seed policy', async () => {
    const out = join(work, 'policies');
    const record = join(work, 'learn.jsonl');
    const learn = await startLearn(view, { selector: 'run=mypod', out, record, apply: true });
    await mypod.wget(INTERNET, 80);
    await mypod.wget(INTERNET, 443);
    const flows = await waitForFlows(record, 2);
    expect(await learn.stop()).toBe(0);
    expect(flows.map((f) => [f.node, f.src.namespace, f.src.pod, f.src.container, f.src.comm, f.dst.ip, f.dst.port, f.outcome])).toEqual([
      [NODE, 'default', 'mypod', 'mypod', 'wget', INTERNET, 80, 'established'],
      [NODE, 'default', 'mypod', 'mypod', 'wget', INTERNET, 443, 'established'],
    ]);
    const policies = policiesIn(out);
    expect(policies).toHaveLength(1);
    // The seed's policy: egress to the observed address on 80 and 443. learn observed UDP too and
    // the pod resolved no name (wget to an address), so no DNS rule, and the policy says why.
    expect(flows.every((f) => JSON.stringify(f.observed) === '["TCP","UDP"]')).toBe(true);
    expect(normalizePolicy(policies[0]!)).toEqual({
      namespace: 'default',
      name: 'mypod',
      podSelector: 'run=mypod',
      policyTypes: ['egress'],
      allows: { ingress: [], egress: [`ipBlock ${INTERNET}/32 on TCP/443`, `ipBlock ${INTERNET}/32 on TCP/80`].sort() },
    });
    expect(policies[0]!.metadata?.annotations?.['netpol.io/dns']).toBe('not-observed');
    // --apply: dry-run, then applied, with the diff shown.
    expect(learn.err.text).toMatch(/networkpolicy\.networking\.k8s\.io\/mypod created {2}\(namespace default\)/);
    expect(learn.err.text).toMatch(/\+\+\+ applied\/default\/mypod/);
    const inCluster = await view.waitFor((i) => i.networkPolicies('default').find((p) => p.metadata?.name === 'mypod'), 10_000);
    expect(normalizePolicy(inCluster!)).toEqual(normalizePolicy(policies[0]!));
  });

  it('diff --live flags a connect to another address, and no drift', async () => {
    const record = join(work, 'later.jsonl');
    const learn = await startLearn(view, { selector: 'run=mypod', out: join(work, 'later-policies'), record });
    await mypod.wget(INTERNET, 80);
    await mypod.wget(ELSEWHERE, 80);
    await waitForFlows(record, 2);
    expect(await learn.stop()).toBe(0);
    const out = new Lines();
    const code = await runLiveDiff(
      { flows: [record], policies: [join(work, 'policies')], live: true, kubeconfig: c.kubeconfig, output: { format: 'table', columns: ['verdict', 'src', 'dst', 'proto'] } },
      { stdout: out },
    );
    expect(code).toBe(1);
    expect(out.text).toMatch(/no drift: the cluster's NetworkPolicies in default match the files/);
    const denied = out.lines.filter((l) => /^denied/.test(l));
    expect(denied).toHaveLength(2); // by the cluster's policies and by the files
    for (const l of denied) expect(l).toMatch(new RegExp(`^denied +p/default/mypod +r/${ELSEWHERE.replaceAll('.', '\\.')}:80 +TCP$`));
    expect(out.lines.filter((l) => /^allowed/.test(l))).toHaveLength(2);
  });

  it('works through the real binary: netpol learn -l, then netpol diff --live', async () => {
    // CI builds dist/ in scripts/setup.sh; a bare checkout gets one build here.
    if (!existsSync(MAIN)) execFileSync('npm', ['run', '--silent', 'build'], { cwd: repo, stdio: 'ignore' });
    const out = join(work, 'cli-policies');
    const record = join(work, 'cli.jsonl');
    let traffic: Promise<unknown> | undefined;
    const learned = await netpol(['learn', '-l', 'run=mypod', '-n', 'default', '--duration', '6s', '--record', record, '--out', out, '--kubeconfig', c.kubeconfig], (text) => {
      // Once it observes, the pod does what the seed's pod does.
      if (!traffic && text.includes('observing pods matching run=mypod in namespace default')) {
        traffic = (async () => {
          await mypod.wget(INTERNET, 80);
          await mypod.wget(INTERNET, 443);
        })();
      }
    });
    await traffic;
    expect(learned.stderr).toMatch(/observed 2 distinct connections/);
    expect(learned.code).toBe(0);
    expect(policiesIn(out).map((p) => normalizePolicy(p))).toEqual(policiesIn(join(work, 'policies')).map((p) => normalizePolicy(p)));
    // Later, another address: diff --live against the cluster (which has the applied policy) and the files.
    const later = join(work, 'cli-later.jsonl');
    const learn = await startLearn(view, { selector: 'run=mypod', out: join(work, 'cli-later-policies'), record: later });
    await mypod.wget(ELSEWHERE, 80);
    await waitForFlows(later, 1);
    await learn.stop();
    const diff = await netpol(['diff', '--live', '--flows', later, '--policies', out, '--kubeconfig', c.kubeconfig]);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/no drift/);
    expect(diff.stdout).toMatch(new RegExp(`denied +p/default/mypod +r/${ELSEWHERE.replaceAll('.', '\\.')}:80`));
  });

  it('a Service ClusterIP client reads s/ns/svc:port and its policy allows the backends on the targetPort', async () => {
    // Short enough for the --latency layout's 14-character namespace column.
    const ns = `svc-${Date.now().toString(36).slice(-6)}`;
    await c.core.createNamespace({ body: { metadata: { name: ns } } });
    const backend = await node.runPod(ns, { name: 'web-1', labels: { app: 'web' }, containers: [{ name: 'web', ports: [{ name: 'http', containerPort: 8080 }] }] });
    backend.serve(8080);
    const svc = await c.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] } },
    });
    await writeEndpointSlice(c, svc, [backend.pod], [{ port: 8080 }]);
    const client = await node.runPod(ns, { name: 'client', labels: { app: 'client' } });
    const clusterIP = svc.spec!.clusterIP!;
    node.dnat(client, clusterIP, 80, backend.ip, 8080);
    await view.waitFor((i) => (i.pod(ns, 'client')?.status?.podIP && i.serviceByIP(clusterIP) && i.objects.endpointSlices.some((s) => s.metadata?.namespace === ns) ? true : undefined), 10_000);

    const trace = await startTrace(view, { namespace: ns, selector: 'app in (client)', latency: true });
    const record = join(work, 'svc.jsonl');
    const out = join(work, 'svc-policies');
    const learn = await startLearn(view, { namespace: ns, selector: 'app=client', record, out });
    const wget = client.wgetProcess(clusterIP, 80);
    expect(await wget.exited).toBe(0); // really served by the backend through the DNAT
    const lines = await trace.out.waitForLines(2);
    expect(await trace.stop()).toBe(0);
    await waitForFlows(record, 1);
    expect(await learn.stop()).toBe(0);

    expect(lines[0]).toBe(
      'K8S.NODE              K8S.NAMESPACE  K8S.POD            K8S.CONTAINER      PID        COMM            IP SRC                         DST                               LATENCY',
    );
    const row = lines[1]!;
    expect(row.slice(0, 105)).toBe(`${NODE.padEnd(21)} ${ns.padEnd(14)} ${'client'.padEnd(18)} ${'client'.padEnd(18)} ${String(wget.pid).padEnd(10)} ${'wget'.padEnd(15)} 4  `);
    expect(row).toMatch(new RegExp(` p/${ns}/client:\\d+ +s/${ns}/web:80 +\\d+(\\.\\d+)?(ns|µs|ms|s)$`));
    const [flow] = readFlowsFile(record);
    expect(flow!.dst).toEqual({ ip: clusterIP, port: 80, namespace: ns, pod: null, service: 'web' });
    const policies = policiesIn(out);
    expect(policies.map((p) => p.metadata?.name)).toEqual(['client']);
    // Enforced after DNAT: the backends (their workload's selector) on the targetPort, never the
    // ClusterIP. The client dialled an address and made no lookup (UDP was observed): no DNS rule.
    expect(normalizePolicy(policies[0]!).allows.egress).toEqual([`namespace ${ns} pods {app=web} on TCP/8080`]);
  });

  it('loses no flows when the API server stops and comes back during learn', async () => {
    const ns = await createNamespace(c, 'restart');
    const a = await node.runPod(ns, { name: 'a', labels: { app: 'restart', member: 'a' } });
    await view.waitFor((i) => i.pod(ns, 'a')?.status?.podIP, 10_000);
    const record = join(work, 'restart.jsonl');
    const learn = await startLearn(view, { namespace: ns, selector: 'app=restart', record, out: join(work, 'restart-policies') });
    await a.wget(INTERNET, 80);
    // A pod created right before the outage: the view may or may not have seen it when it goes away.
    const b = await node.runPod(ns, { name: 'b', labels: { app: 'restart', member: 'b' } });
    await stopApiserver();
    try {
      await a.wget(INTERNET, 443);
      await a.wget(ELSEWHERE, 80); // refused
      await b.wget(INTERNET, 80);
      expect(view.health().connected).toBe(false);
    } finally {
      await startApiserver();
    }
    await a.wget(ELSEWHERE, 443); // after
    const flows = await waitForFlows(record, 5, 30_000);
    expect(await learn.stop()).toBe(0);
    expect(flows.map((f) => `${f.src.pod} ${f.dst.ip}:${f.dst.port} ${f.outcome}`).sort()).toEqual([
      `a ${ELSEWHERE}:443 refused`,
      `a ${ELSEWHERE}:80 refused`,
      `a ${INTERNET}:443 established`,
      `a ${INTERNET}:80 established`,
      `b ${INTERNET}:80 established`,
    ]);
    expect(learn.err.text).not.toMatch(/never reported/);
    const policies = policiesIn(join(work, 'restart-policies'));
    expect(policies.map((p) => normalizePolicy(p)).map((p) => [p.name, p.allows.egress.filter((x) => !x.includes('kube-dns'))])).toEqual([
      ['a', [`ipBlock ${ELSEWHERE}/32 on TCP/443`, `ipBlock ${ELSEWHERE}/32 on TCP/80`, `ipBlock ${INTERNET}/32 on TCP/443`, `ipBlock ${INTERNET}/32 on TCP/80`]],
      ['b', [`ipBlock ${INTERNET}/32 on TCP/80`]],
    ]);
  });
});
