// netpol installed on a real node (test/node/up.sh) as users install it: the image built from local
// files (test/node/netpol-image.sh) and pushed to the node's registry, then `kubectl netpol deploy`
// run as an unprivileged user (uid 65534) with only a readable kubeconfig. Checked here:
//   - the kustomize base renders as `kubectl kustomize` does and the API server accepts it (dry run);
//   - --dry-run -o yaml prints exactly what would be applied;
//   - deploy reports honestly: an image that does not exist, and an agent that exits, both fail the
//     deploy with the node named and the reason (pull error; the agent's last log lines);
//   - the agent becomes Ready; its process has exactly four capabilities, no_new_privs, seccomp and
//     read-only root and host paths; a pod in another namespace cannot reach its stream (:9808)
//     while :9809/metrics answers it (counting that pod's connects);
//   - each capability is needed: with the DaemonSet's pod spec minus any one, the agent exits (BPF,
//     PERFMON, DAC_READ_SEARCH) or degrades (NET_ADMIN), saying why;
//   - undeploy removes everything but the CRDs and waits for the pods to go.
// Run under the node lock: flock /tmp/netpol-node.lock npx vitest run test/e2e/node-deploy.test.ts
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { defaultImage, loadKustomization, packagedBaseDir, withImage, type Manifest } from '../../src/cluster/deploy.js';
import { ensureBuilt } from '../support/cli.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { RealNode } from './support/node.js';
import { pushNetpolImage, runAsUser, userKubeconfigIn } from './support/node-suite.js';

const repo = resolve(import.meta.dirname, '..', '..');
const NS = 'netpol-system';
const INTERNET = '203.0.113.10';
const BROKEN_REF = 'docker.io/netpol/netpol:v0.0.0-no-libbpf';
/** Unpacks an image layout's layer, removes libbpf, writes it as a new layout (args: from, to, ref, oci.sh). */
const BROKEN_IMAGE = `set -euo pipefail
root="$(mktemp -d)"; trap 'rm -rf "$root"' EXIT
manifest="$(grep -o 'sha256:[0-9a-f]*' "$1/index.json" | head -n1 | cut -d: -f2)"
layer="$(grep -o '"digest":"sha256:[0-9a-f]*"' "$1/blobs/sha256/$manifest" | tail -n1 | cut -d: -f3 | tr -d '"')"
config="$(grep -o '"digest":"sha256:[0-9a-f]*"' "$1/blobs/sha256/$manifest" | head -n1 | cut -d: -f3 | tr -d '"')"
tar -xzf "$1/blobs/sha256/$layer" -C "$root"
rm -f "$root"/usr/lib/x86_64-linux-gnu/libbpf.so*
ldconfig -r "$root"
. "$4"
exec_config="$(sed -e 's/^{"architecture":"amd64","os":"linux","config":{//' -e 's/},"rootfs".*$//' "$1/blobs/sha256/$config")"
rm -rf "$2"; oci_image "$2" "$3" "$root" "$exec_config"`;

let node: RealNode;
let work: string;
let userKubeconfig: string;
let agentPod: string;
let agentIP: string;
const timings: Record<string, number> = {};

/** The CLI as uid/gid 65534 with no groups: what a workstation user with only a kubeconfig can do. */
const asUser = (args: string[], timeoutMs?: number) => runAsUser({ home: work, kubeconfig: userKubeconfig }, args, timeoutMs);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function podPhase(name: string, namespace = NS): Promise<string> {
  return (await node.kubectl(['-n', namespace, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}'], { allowFail: true })).stdout;
}

async function waitPodDone(name: string, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const phase = await podPhase(name);
    if (phase === 'Succeeded' || phase === 'Failed') return phase;
    if (Date.now() > deadline) throw new Error(`pod ${name} still ${phase || 'absent'} after ${timeoutMs} ms`);
    await sleep(500);
  }
}

/** A pod with the DaemonSet's pod spec (service account, security context, host paths), other args. */
function podFromDaemonSet(name: string, args: string[], edit: (container: Record<string, unknown>) => void = () => {}): Manifest {
  const ds = withImage(loadKustomization(packagedBaseDir()), defaultImage()).find((m) => m.kind === 'DaemonSet') as Manifest & {
    spec: { template: { spec: { containers: Record<string, unknown>[]; restartPolicy?: string } } };
  };
  const spec = structuredClone(ds.spec.template.spec);
  const c = spec.containers[0]!;
  c.args = args;
  delete c.readinessProbe;
  delete c.livenessProbe;
  (c.env as unknown[]).push({ name: 'NETPOL_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
  // A journal of its own: the node's journal is locked by the DaemonSet's agent (one agent per node),
  // and this pod would wait for it. Not a DaemonSet's pod, it does not pin its programs either.
  (c.env as unknown[]).push({ name: 'NETPOL_PROFILE_DIR', value: `/var/lib/netpol/pods/${name}/profile` });
  edit(c);
  spec.restartPolicy = 'Never';
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS }, spec };
}

async function applyYaml(objects: object[]): Promise<void> {
  const file = join(work, `apply-${Date.now()}.yaml`);
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  await node.kubectl(['apply', '-f', file]);
}

describe('netpol deploy on a real node', () => {
  beforeAll(async () => {
    ensureBuilt();
    ensureBpfBuilt();
    work = mkdtempSync(join(tmpdir(), 'netpol-deploy-'));
    node = await RealNode.start();
    Object.assign(timings, pushNetpolImage(node, work));
    userKubeconfig = userKubeconfigIn(node, work);
  }, 300_000);

  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(`node-deploy timings: ${JSON.stringify(timings)}`);
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('renders the base as kubectl kustomize does, and the API server accepts it (server-side dry run)', async () => {
    const rendered = (await node.kubectl(['kustomize', join(repo, 'deploy/base')])).stdout;
    const kustomized = parseAllDocuments(rendered).map((d) => d.toJS() as Manifest);
    const ours = loadKustomization(packagedBaseDir());
    const key = (m: Manifest) => `${m.kind}/${m.metadata.namespace ?? ''}/${m.metadata.name}`;
    expect(new Map(ours.map((m) => [key(m), m]))).toEqual(new Map(kustomized.map((m) => [key(m), m])));

    // A dry run needs the namespace to exist (admission looks it up): the namespace first, for real.
    await node.kubectl(['apply', '--server-side', '--field-manager', 'netpol', '-f', join(repo, 'deploy/base/namespace.yaml')]);
    const dry = await node.kubectl(['apply', '--server-side', '--field-manager', 'netpol', '--dry-run=server', '-k', join(repo, 'deploy/base')]);
    expect(dry.stdout).toContain('daemonset.apps/netpol-agent serverside-applied (server dry run)');
    expect(dry.stdout).toContain('clusterrole.rbac.authorization.k8s.io/netpol-agent serverside-applied (server dry run)');
    expect((await node.kubectl(['-n', NS, 'get', 'daemonset', 'netpol-agent'], { allowFail: true })).stderr).toMatch(/NotFound/);
  });

  it('deploy --dry-run -o yaml prints exactly the manifests it would apply, with --image', async () => {
    const r = await asUser(['deploy', '--dry-run', '-o', 'yaml', '--image', 'registry.example.com/netpol/netpol:test']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const printed = parseAllDocuments(r.stdout).map((d) => d.toJS() as Manifest);
    expect(printed).toEqual(withImage(loadKustomization(packagedBaseDir()), 'registry.example.com/netpol/netpol:test'));
  });

  it('fails a deploy whose image does not exist, naming the node and the pull error', async () => {
    const r = await asUser(['deploy', '--image', 'docker.io/netpol/netpol:v0.0.0-missing', '--timeout', '20s']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('daemonset.apps/netpol-agent -n netpol-system serverside-applied');
    expect(r.stderr).toMatch(/the netpol agents are not ready after 20s: 1 of 1 node\(s\) not ready/);
    expect(r.stderr).toMatch(/ {2}netpol-node \(pod netpol-agent-[a-z0-9]+\): container (ErrImagePull|ImagePullBackOff): [^\n]*netpol:v0\.0\.0-missing/);
  }, 120_000);

  it('fails a deploy whose agent exits, naming the node and the agent\'s last words', async () => {
    // The same image without libbpf.so.1 (a broken image build): the agent starts, then exits.
    const broken = join(work, 'image-no-libbpf');
    execFileSync('bash', ['-c', BROKEN_IMAGE, 'broken-image', join(work, 'image'), broken, BROKEN_REF, join(repo, 'test/node/oci.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    execFileSync('bash', [join(repo, 'test/node/push-image.sh'), node.dir, broken]);
    const r = await asUser(['deploy', '--image', BROKEN_REF, '--timeout', '30s']);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/agents ready: 0\/1; netpol-node: /);
    expect(r.stderr).toMatch(/ {2}netpol-node \(pod netpol-agent-[a-z0-9]+\): [^\n]*last exit 3 \(Error\): [^\n]*error: cannot load libbpf\.so\.1: [^\n]*hint: install libbpf/);
    expect(r.stderr).toContain('hint: kubectl -n netpol-system describe pods -l app.kubernetes.io/name=netpol-agent');
  }, 180_000);

  it('deploys the agent: Ready on the node, as the unprivileged user', async () => {
    const t = Date.now();
    const r = await asUser(['deploy', '--timeout', '90s']);
    timings.deployMs = Date.now() - t;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`deploying the netpol agent (${defaultImage()})`);
    expect(r.stderr).toMatch(/agents ready: 1\/1\n/);
    expect(r.stdout).toMatch(/^netpol agent ready on 1 node\(s\) in [\d.]+s: netpol-node\n$/);
    const pod = JSON.parse((await node.kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=netpol-agent', '-o', 'json'])).stdout) as {
      items: { metadata: { name: string }; spec: { hostNetwork?: boolean; hostPID?: boolean; containers: { image: string }[] }; status: { podIP: string } }[];
    };
    expect(pod.items).toHaveLength(1);
    expect(pod.items[0]!.spec.containers[0]!.image).toBe(defaultImage());
    expect(pod.items[0]!.spec.hostNetwork).toBeUndefined();
    expect(pod.items[0]!.spec.hostPID).toBeUndefined();
    agentPod = pod.items[0]!.metadata.name;
    agentIP = pod.items[0]!.status.podIP;
  }, 150_000);

  it('runs the agent with exactly its four capabilities, no privilege escalation, seccomp and a read-only root', async () => {
    // The agent process (PID 1 of its container) as the kernel sees it, read from inside the container.
    const script =
      "const fs=require('fs');const m={};" +
      "for(const l of fs.readFileSync('/proc/1/status','utf8').split('\\n')){const x=/^(\\w+):\\s*(.*)$/.exec(l);if(x)m[x[1]]=x[2].trim()}" +
      "const attempt=(f)=>{try{fs.writeFileSync(f,'x');return 'written'}catch(e){return e.code}};" +
      "console.log(JSON.stringify({CapEff:m.CapEff,CapBnd:m.CapBnd,CapAmb:m.CapAmb,NoNewPrivs:m.NoNewPrivs,Seccomp:m.Seccomp," +
      "root:attempt('/app/probe'),tmp:attempt('/tmp/probe'),tracefs:attempt('/sys/kernel/tracing/trace_marker'),cgroup:attempt('/sys/fs/cgroup/probe')}))";
    const out = JSON.parse((await node.kubectl(['-n', NS, 'exec', agentPod, '--', '/usr/bin/node', '-e', script])).stdout) as Record<string, string>;
    // CAP_DAC_READ_SEARCH 2, CAP_NET_ADMIN 12, CAP_PERFMON 38, CAP_BPF 39: nothing else, not even in the bounding set.
    const want = ((1n << 2n) | (1n << 12n) | (1n << 38n) | (1n << 39n)).toString(16).padStart(16, '0');
    expect(out).toEqual({ CapEff: want, CapBnd: want, CapAmb: '0000000000000000', NoNewPrivs: '1', Seccomp: '2', root: 'EROFS', tmp: 'EROFS', tracefs: 'EROFS', cgroup: 'EROFS' });
  });

  it("keeps the agent's stream off the pod network: a pod in another namespace is refused on :9808, answered on :9809", async () => {
    // A client pod in namespace default makes connects (the agent counts them), then tries both ports.
    await node.kubectl(['run', 'outsider', '--restart=Never', '--image=busybox', '--', 'sh', '-c', `timeout 3 wget -q -O /dev/null http://${INTERNET}; sleep 600`]);
    for (let i = 0; i < 120 && (await podPhase('outsider', 'default')) !== 'Running'; i++) await sleep(500);
    const tryGet = async (port: number, path: string) =>
      (await node.kubectl(['exec', 'outsider', '--', 'sh', '-c', `timeout 5 wget -q -O - http://${agentIP}:${port}${path} 2>&1; echo "exit=$?"`])).stdout;
    const stream = await tryGet(9808, '/v1/connects');
    expect(stream).toMatch(/Connection refused|timed out|unreachable/);
    expect(stream).toMatch(/exit=[1-9]/);
    expect(await tryGet(9808, '/v1/status')).toMatch(/Connection refused[\s\S]*exit=1/);
    let metrics = '';
    for (let i = 0; i < 20; i++) {
      metrics = await tryGet(9809, '/metrics');
      if (/^netpol_connects_total [1-9]/m.test(metrics)) break;
      await sleep(500);
    }
    expect(metrics).toMatch(/^# TYPE netpol_connects_total counter$/m);
    expect(metrics).toMatch(/^netpol_connects_total [1-9]\d*$/m); // the outsider's connect to the internet, seen by the agent
    expect(metrics).toMatch(/exit=0/);
    await node.kubectl(['delete', 'pod', 'outsider', '--now', '--wait=false']);
  }, 120_000);

  it('needs each of its four capabilities: without one, the agent exits or degrades, and says why', async () => {
    const without = (cap: string) => (c: Record<string, unknown>) => {
      const caps = (c.securityContext as { capabilities: { add: string[] } }).capabilities;
      caps.add = caps.add.filter((x) => x !== cap);
    };
    const cases = {
      bpf: podFromDaemonSet('cap-no-bpf', ['agent'], without('BPF')),
      perfmon: podFromDaemonSet('cap-no-perfmon', ['agent'], without('PERFMON')),
      netadmin: podFromDaemonSet('cap-no-net-admin', ['agent'], without('NET_ADMIN')),
      dac: podFromDaemonSet('cap-no-dac-read-search', ['agent'], without('DAC_READ_SEARCH')),
    };
    // CAP_DAC_READ_SEARCH opens a tracefs the agent's user (root) does not own. One the agent owns
    // (root's, mode 700: the default) its owner's mode bits open without it. tracefs is one
    // superblock for the whole machine, so its owner is whatever the last mount with options set,
    // until reboot: this suite passed only when agent-fresh-machine.test.ts, which mounts it for
    // uid 1, had run before it (a fresh machine ran it after, and the pod without the capability kept
    // running). The case now sets that owner itself, as a host whose tracefs is mounted for another
    // user (uid=/gid= mount options) has it: in a mount namespace of its own, the tracefs mounted
    // there taken off first (mount refuses a second tracefs on the same path).
    execFileSync('unshare', ['-m', 'sh', '-c', 'mount --make-rprivate / && { umount -l /sys/kernel/tracing 2>/dev/null; mount -t tracefs -o uid=1,gid=1,mode=700 tracefs /sys/kernel/tracing; }']);
    await applyYaml(Object.values(cases));
    const logs = async (pod: Manifest) => (await node.kubectl(['-n', NS, 'logs', pod.metadata.name], { allowFail: true })).stdout;
    const result: Record<string, { phase: string; log: string }> = {};
    for (const [k, pod] of Object.entries(cases)) {
      if (k === 'netadmin') {
        // It keeps running: wait for its tracer to be attached.
        let log = '';
        for (let i = 0; i < 120 && !/BPF programs attached/.test(log); i++) {
          await sleep(500);
          log = await logs(pod);
        }
        result[k] = { phase: await podPhase(pod.metadata.name), log };
      } else {
        result[k] = { phase: await waitPodDone(pod.metadata.name), log: await logs(pod) };
      }
    }
    await node.kubectl(['-n', NS, 'delete', 'pod', ...Object.values(cases).map((p) => p.metadata.name), '--now', '--wait=false']);
    // eslint-disable-next-line no-console
    console.log(Object.entries(result).map(([k, v]) => `--- without ${k}: ${v.phase}\n${v.log}`).join('\n'));
    for (const k of ['bpf', 'perfmon'] as const) {
      expect(result[k]!.phase, k).toBe('Failed');
      expect(result[k]!.log).toContain('error: netpol needs privileges to load eBPF programs');
    }
    expect(result.dac!.phase).toBe('Failed');
    expect(result.dac!.log).toContain('error: permission denied reading /sys/kernel/tracing/events: tracefs is root-only');
    // Without NET_ADMIN the sock_ops hook cannot attach: a connect is reported only once answered, so
    // one a policy drops shows up seconds late, as a timeout, instead of as it is made.
    expect(result.netadmin!.phase).toBe('Running');
    expect(result.netadmin!.log).toMatch(/warning: connects are reported when answered only: the sockops hook needs CAP_NET_ADMIN/);
  }, 240_000);

  it('undeploy removes the agent and everything it came with, and waits for the pods to go', async () => {
    const t = Date.now();
    const r = await asUser(['undeploy', '--timeout', '90s']);
    timings.undeployMs = Date.now() - t;
    // eslint-disable-next-line no-console
    console.log(`undeploy:\n${r.stderr}${r.stdout}`);
    expect(r.code, r.stderr).toBe(0);
    // The DaemonSet first; its pods gone before the agent's RBAC and namespace are deleted (an agent
    // flushing on SIGTERM keeps its permissions while it does).
    const lines = r.stderr.split('\n');
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    expect(at(/^daemonset\.apps\/netpol-agent -n netpol-system deleted$/)).toBeGreaterThan(0);
    expect(at(/^waiting for \d+ to go: pod\/netpol-agent-/)).toBeGreaterThan(at(/^daemonset\.apps\/netpol-agent/));
    expect(at(/^clusterrolebinding\.rbac\.authorization\.k8s\.io\/netpol-agent deleted$/)).toBeGreaterThan(at(/^waiting for \d+ to go: pod\/netpol-agent-/));
    expect(at(/^namespace\/netpol-system deleted$/)).toBeGreaterThan(at(/^clusterrolebinding/));
    // Everything the base installs but the CRDs (they hold users' data: --include-crds removes them).
    const removable = loadKustomization(packagedBaseDir()).filter((m) => m.kind !== 'CustomResourceDefinition').length;
    expect(removable).toBeGreaterThanOrEqual(6);
    expect(r.stdout).toMatch(new RegExp(`^netpol agent removed \\(${removable} objects\\) in [\\d.]+s\\n$`));
    for (const what of [['namespace', NS], ['clusterrole', 'netpol-agent'], ['clusterrolebinding', 'netpol-agent']]) {
      expect((await node.kubectl(['get', ...what], { allowFail: true })).stderr, what.join('/')).toMatch(/NotFound/);
    }
    const again = await asUser(['undeploy']);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('netpol agent was not deployed: nothing to remove\n');
  }, 150_000);
});
