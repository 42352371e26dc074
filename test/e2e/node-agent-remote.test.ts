// `kubectl netpol trace tcpconnect` and `kubectl netpol status` from a workstation, on a real node
// (test/node/up.sh) with the agents deployed as users deploy them (the image built from local files,
// pushed to the node's registry, `netpol deploy`): the CLI runs as an unprivileged user (uid 65534,
// no groups) with only a readable kubeconfig, and reaches the agents through pods/portforward.
//
//   trace --podname mypod           the seed's lines for the pod (80, then 443), as the on-node mode prints them
//   trace --podname p2 --latency    the same pod's connects when answered, with LATENCY
//   status (table and -o json)      the node's agent ready, its version and counts
//   a pod in another namespace      cannot read the agent's API from the pod network
//   no agent on the pod's node      trace says which node and why (the DaemonSet schedules nowhere), exit 3
//
// Run under the node lock: flock /tmp/netpol-node.lock npx vitest run test/e2e/node-agent-remote.test.ts
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../support/cli.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { RealNode } from './support/node.js';
import { pushNetpolImage, runAsUser, spawnAsUser, userKubeconfigIn, Watched } from './support/node-suite.js';

const repo = resolve(import.meta.dirname, '..', '..');
const INTERNET = '203.0.113.10';
const SEED_HEADER =
  'K8S.NODE                 K8S.NAMESPACE            K8S.POD                  K8S.CONTAINER            PID        COMM          IP SRC                     DST';
const REMOTE = 'mode: streaming from the netpol agents (daemonset netpol-system/netpol-agent)\n';
const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;

let node: RealNode;
let work: string;
let userKubeconfig: string;

/** The CLI as uid/gid 65534 with no groups, only a kubeconfig: a workstation user. */
class AsUser extends Watched {
  constructor(args: string[]) {
    super(spawnAsUser({ home: work, kubeconfig: userKubeconfig, cwd: work }, args));
  }
}

const run = (args: string[]) => runAsUser({ home: work, kubeconfig: userKubeconfig, cwd: work }, args);

async function runPod(name: string, command: string, namespace = 'default'): Promise<string> {
  await node.kubectl(['-n', namespace, 'run', '--restart=Never', '--image=busybox', name, '--', 'sh', '-c', command]);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const phase = (await node.kubectl(['-n', namespace, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).stdout;
    if (phase === 'Succeeded' || phase === 'Failed') break;
    if (Date.now() > deadline) throw new Error(`${name} still ${phase} after 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return (await node.kubectl(['-n', namespace, 'logs', name])).stdout;
}

const seedRow = (pod: string, port: number): RegExp =>
  new RegExp(`^${node.name.padEnd(24)} ${'default'.padEnd(24)} ${pod.padEnd(24)} ${pod.padEnd(24)} \\d+ +wget +4  p/default/${pod}:\\d+ +r/${INTERNET.replaceAll('.', '\\.')}:${port}$`);

describe('trace and status from a workstation, through the deployed agents', () => {
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('these tests need root (a real node: namespaces, cgroups, eBPF)');
    ensureBpfBuilt();
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'netpol-agent-remote-'));
    node = await RealNode.start();
    pushNetpolImage(node, work);
    userKubeconfig = userKubeconfigIn(node, work);
    const deployed = await run(['deploy', '--timeout', '90s']);
    if (deployed.code !== 0) throw new Error(`netpol deploy failed: ${deployed.stderr}`);
  }, 300_000);

  afterAll(async () => {
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('trace tcpconnect --podname mypod as a non-root user prints the seed\'s lines for the pod', async () => {
    const trace = new AsUser(['trace', 'tcpconnect', '--podname', 'mypod']);
    await trace.waitFor('the header', () => trace.lines.length >= 1);
    expect(trace.stderr).toBe(REMOTE);
    expect(await runPod('mypod', `timeout 3 wget -q -O /dev/null http://${INTERNET} && echo ok || echo failed`)).toContain('ok');
    await trace.waitFor('two connects', () => trace.lines.length >= 3);
    await new Promise((r) => setTimeout(r, 500));
    expect(await trace.interrupt()).toBe(0);
    expect(trace.lines[0]).toBe(SEED_HEADER);
    expect(trace.lines).toHaveLength(3);
    expect(trace.lines[1]).toMatch(seedRow('mypod', 80));
    expect(trace.lines[2]).toMatch(seedRow('mypod', 443));
    expect(trace.stderr).toBe(`${REMOTE}2 connects traced, 0 lost\n`);
  });

  it('--latency shows the connects when answered, with LATENCY; -o json carries the k8s fields', async () => {
    const trace = new AsUser(['trace', 'tcpconnect', '--podname', 'p2', '--latency']);
    const json = new AsUser(['trace', 'tcpconnect', '-l', 'run=p2', '-o', 'json']);
    await trace.waitFor('the header', () => trace.lines.length >= 1);
    await json.waitFor('the mode line', () => json.stderr.startsWith(REMOTE));
    await runPod('p2', `timeout 3 wget -q -O /dev/null http://${INTERNET}; echo done`);
    await trace.waitFor('two answers', () => trace.lines.length >= 3);
    await json.waitFor('two connects', () => json.lines.length >= 2);
    expect(await trace.interrupt()).toBe(0);
    expect(await json.interrupt()).toBe(0);
    expect(trace.lines[0]).toMatch(/ DST +LATENCY$/);
    for (const [i, port] of [[1, 80], [2, 443]] as const) {
      expect(trace.lines[i]).toMatch(new RegExp(` p/default/p2:\\d+ +r/${INTERNET.replaceAll('.', '\\.')}:${port} +[\\d.]+(ns|µs|ms|s)$`));
    }
    const rows = json.lines.map((l) => JSON.parse(l) as { k8s: Record<string, string>; dst: { port: number } });
    expect(rows.map((r) => [r.k8s.node, r.k8s.namespace, r.k8s.podName, r.dst.port])).toEqual([
      [node.name, 'default', 'p2', 80],
      [node.name, 'default', 'p2', 443],
    ]);
  });

  it('status as a non-root user: the node\'s agent ready, with its version and counts (table and -o json)', async () => {
    const table = await run(['status']);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NODE +AGENT +READY +VERSION +EVENTS\/S +EVENTS +LOST +UNRESOLVED +CLIENTS +SINKS \/ REASON$/);
    expect(lines[1]).toMatch(new RegExp(`^${node.name} +netpol-agent-\\w+ +true +v${version.replaceAll('.', '\\.')} +[\\d.]+ +\\d+ +0 +\\d+ +\\d+ +stream: subscribers=\\d+`));
    const json = await run(['status', '-o', 'json']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as { agents: Array<{ node: string; ready: boolean; status: { node: string; connects: { answered: number; made: number }; events: { kernelLost: number } } }>; sections: Record<string, unknown> };
    expect(doc.agents).toHaveLength(1);
    expect(doc.agents[0]).toMatchObject({ node: node.name, ready: true, status: { node: node.name, events: { kernelLost: 0 } } });
    // mypod's and p2's connects (and whatever CoreDNS and the rest of the node made).
    expect(doc.agents[0]!.status.connects.answered).toBeGreaterThanOrEqual(4);
    // `deploy` installed the TrafficProfile CRD: status reports the profiles (none overflowed).
    expect(doc.sections).toMatchObject({ profiles: { installed: true, overflowConnects: 0 } });
  });

  it('the agent\'s API is not readable from the pod network, even by a pod in another namespace; /metrics is', async () => {
    await node.kubectl(['create', 'namespace', 'other']);
    const ip = (await node.kubectl(['-n', 'netpol-system', 'get', 'pods', '-l', 'app.kubernetes.io/name=netpol-agent', '-o', 'jsonpath={.items[0].status.podIP}'])).stdout;
    expect(ip).toMatch(/^10\.244\./);
    const log = await runPod(
      'reader',
      `timeout 3 wget -q -O - http://${ip}:9808/v1/status && echo API-READ || echo API-REFUSED; timeout 3 wget -q -O - http://${ip}:9809/metrics | grep -c '^netpol_connects_total '`,
      'other',
    );
    expect(log).toContain('API-REFUSED');
    expect(log).not.toContain('API-READ');
    expect(log.trim().split('\n').at(-1)).toBe('1');
  });

  it('works with least RBAC (list pods where traced; in netpol-system get daemonsets, list pods, get+create pods/portforward; no nodes); create alone is refused with exit 3, no crash', async () => {
    await node.kubectl(['-n', 'default', 'create', 'serviceaccount', 'tracer']);
    await node.kubectl(['-n', 'default', 'create', 'role', 'trace-pods', '--verb=list', '--resource=pods']);
    await node.kubectl(['-n', 'default', 'create', 'rolebinding', 'trace-pods', '--role=trace-pods', '--serviceaccount=default:tracer']);
    await node.kubectl(['-n', 'netpol-system', 'create', 'role', 'trace-agents', '--verb=get,list', '--resource=pods,daemonsets.apps']);
    // First only create on pods/portforward, as for SPDY: a WebSocket port-forward is a GET, refused.
    await node.kubectl(['-n', 'netpol-system', 'create', 'role', 'trace-forward', '--verb=create', '--resource=pods/portforward']);
    for (const role of ['trace-agents', 'trace-forward']) {
      await node.kubectl(['-n', 'netpol-system', 'create', 'rolebinding', role, `--role=${role}`, '--serviceaccount=default:tracer']);
    }
    const token = (await node.kubectl(['-n', 'default', 'create', 'token', 'tracer'])).stdout.trim();
    const kc = parse(readFileSync(node.kubeconfig, 'utf8')) as { users: Array<{ name: string; user: unknown }>; contexts: Array<{ context: { user: string } }> };
    kc.users = [{ name: 'tracer', user: { token } }];
    for (const c of kc.contexts) c.context.user = 'tracer';
    const admin = userKubeconfig;
    userKubeconfig = join(work, 'tracer-kubeconfig');
    writeFileSync(userKubeconfig, stringify(kc), { mode: 0o644 });
    try {
      expect((await node.kubectl(['auth', 'can-i', 'list', 'nodes', '--as=system:serviceaccount:default:tracer'], { allowFail: true })).stdout.trim()).toBe('no');
      const refused = await run(['trace', 'tcpconnect', '--podname', 'mypod', '--timeout', '20s']);
      expect(refused.code).toBe(3);
      expect(refused.stderr).toMatch(/^error: agent netpol-system\/netpol-agent-\w+ on node \S+: port-forward refused: .*403.*\(your RBAC must allow get and create on pods\/portforward in netpol-system\)$/m);
      expect(refused.stderr).not.toMatch(/Unhandled|at /);
      await node.kubectl(['-n', 'netpol-system', 'create', 'role', 'trace-forward-get', '--verb=get', '--resource=pods/portforward']);
      await node.kubectl(['-n', 'netpol-system', 'create', 'rolebinding', 'trace-forward-get', '--role=trace-forward-get', '--serviceaccount=default:tracer']);
      const trace = new AsUser(['trace', 'tcpconnect', '--podname', 'p3']);
      await trace.waitFor('the header', () => trace.lines.length >= 1);
      await runPod('p3', `timeout 3 wget -q -O /dev/null http://${INTERNET}; echo done`);
      await trace.waitFor('two connects', () => trace.lines.length >= 3);
      expect(await trace.interrupt()).toBe(0);
      expect(trace.lines.slice(1)).toEqual([expect.stringMatching(seedRow('p3', 80)), expect.stringMatching(seedRow('p3', 443))]);
      expect(trace.stderr).toBe(`${REMOTE}2 connects traced, 0 lost\n`);
    } finally {
      userKubeconfig = admin;
    }
  });

  it('a pod whose node has no agent: trace names the node and why, and exits 3', async () => {
    // The DaemonSet made to schedule nowhere: its pod goes away.
    await node.kubectl(['-n', 'netpol-system', 'patch', 'daemonset', 'netpol-agent', '--type', 'merge', '-p', '{"spec":{"template":{"spec":{"nodeSelector":{"netpol-test":"nowhere"}}}}}']);
    await node.kubectl(['-n', 'netpol-system', 'wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/name=netpol-agent', '--timeout=60s']);
    const trace = await run(['trace', 'tcpconnect', '--podname', 'mypod', '--timeout', '2s']);
    expect(trace.code).toBe(3);
    expect(trace.stderr).toContain(REMOTE);
    expect(trace.stderr).toContain(`warning: no agent on node ${node.name}: no agent pod scheduled on this node yet`);
    expect(trace.stderr).toMatch(/no netpol agent could be reached/);
    const status = await run(['status']);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(new RegExp(`^${node.name} +- +false .*no agent pod scheduled on this node yet`, 'm'));
  });
});
