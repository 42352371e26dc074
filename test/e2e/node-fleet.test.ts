// netpol as a fleet on a real node (test/node/up.sh: kubelet, containerd, CNI, kube-proxy,
// kube-network-policies enforcing NetworkPolicy, CoreDNS): the image built from local files and
// pushed to the node's registry, `kubectl netpol deploy` run by an unprivileged user (uid 65534, a
// readable kubeconfig, no root), and then everything from that user's shell through the agents:
//
//   the seed walkthrough (issue 12):
//     kubectl run mypod … wget 203.0.113.10                   → ok
//     netpol trace tcpconnect --podname mypod                  → the lines for :80 and :443 (K8S columns, p/ r/)
//     netpol learn -l run=mypod --apply --out DIR              → from the agents' TrafficProfiles, applied
//     the pod again                                            → ok (the real dataplane allows it)
//     the pod changed to 198.51.100.20                         → failed; traced; netpol audit: dropped by default/mypod
//
//   staged policies (issue 13): a Deployment's learned policy staged (netpol stage), an unlearned
//   connect → an audit line, an Event on the Deployment and a metric naming the staged policy within
//   seconds; promote --quiet-for refuses naming the flow; promote --force enforces; the dataplane
//   blocks the connect and audit says by which policy. netpol status: the agent ready, the profiles.
//
// Run under the node lock: flock /tmp/netpol-node.lock npx vitest run test/e2e/node-fleet.test.ts
import { type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { V1NetworkPolicy } from '../../src/cluster/objects.js';
import type { AuditRecord } from '../../src/daemon/judge-sink.js';
import { normalizePolicy } from '../../src/policy/semantic-diff.js';
import { ensureBuilt } from '../support/cli.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { RealNode } from './support/node.js';
import { policiesIn, pushNetpolImage, spawnAsUser, userKubeconfigIn } from './support/node-suite.js';

const NS = 'netpol-system';
const INTERNET = '203.0.113.10'; // the seed's 1.1.1.1 (HTTP on 80 redirecting to HTTPS on 443)
const ELSEWHERE = '198.51.100.20'; // the seed's 1.0.0.1 (plain HTTP on 80)
const SEED_HEADER =
  'K8S.NODE                 K8S.NAMESPACE            K8S.POD                  K8S.CONTAINER            PID        COMM          IP SRC                     DST';
const seedCommand = (ip: string): string => `timeout 3 wget -q -O /dev/null http://${ip} && echo ok || echo failed`;
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

let node: RealNode;
let work: string;
let userKubeconfig: string;
/** The user's own directory (HOME, where learn --out writes). */
let home: string;
let agentIP = '';
const timings: Record<string, number> = {};
const started: UserProcess[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a value (not undefined), or fails naming what it waited for. */
async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, detail: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${detail()}`);
    await sleep(200);
  }
}

/** The CLI as uid/gid 65534 with no groups, running in the background: its output as it comes. */
class UserProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private child: ChildProcess;
  /** When each stdout line arrived (Date.now()), in order. */
  readonly arrivals: number[] = [];

  constructor(args: string[], timeoutMs = 300_000) {
    this.child = spawnAsUser({ home, kubeconfig: userKubeconfig }, args, timeoutMs);
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      const n = this.lines.length;
      while (this.arrivals.length < n) this.arrivals.push(Date.now());
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
    started.push(this);
  }

  get lines(): string[] {
    return this.stdout.split('\n').filter((l) => l !== '');
  }

  get done(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  get output(): string {
    return `stdout:\n${this.stdout}\nstderr:\n${this.stderr}`;
  }

  waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
    return until(what, () => {
      const v = fn();
      if (v === undefined && this.done) throw new Error(`netpol exited (${this.child.exitCode}) while waiting for ${what}\n${this.output}`);
      return v;
    }, timeoutMs, () => this.output);
  }

  /** Ctrl-C, as a user stops it; resolves with the exit code. */
  async interrupt(): Promise<number | null> {
    if (!this.done) this.child.kill('SIGINT');
    return this.exited;
  }
}

/** A netpol command as the user, to its end. */
async function asUser(args: string[], timeoutMs = 180_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new UserProcess(args, timeoutMs);
  const code = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}

function auditRecords(p: UserProcess): Array<{ record: AuditRecord; at: number }> {
  return p.lines.flatMap((l, i) => (l.startsWith('{') ? [{ record: JSON.parse(l) as AuditRecord, at: p.arrivals[i]! }] : []));
}

interface Profile {
  metadata: { namespace: string; name: string };
  spec: { node: string; workload: { namespace: string; kind: string; name: string } };
  status?: { edges?: Array<{ peer: { address?: string; workload?: { name: string }; service?: { name: string } }; via?: { name: string }; port: number; protocol: string; outcome: string }> };
}

async function profiles(): Promise<Profile[]> {
  return (JSON.parse((await node.kubectl(['get', 'trafficprofiles', '-A', '-o', 'json'])).stdout) as { items: Profile[] }).items;
}

/** The agent's /metrics, fetched from the node's network namespace (port 9809 is open to the pod network). */
async function agentMetrics(): Promise<string> {
  const script = `fetch('http://${agentIP}:9809/metrics').then((r) => r.text()).then((t) => process.stdout.write(t), (e) => { console.error(String(e)); process.exit(1); })`;
  const child = node.spawnOnNode([process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`GET http://${agentIP}:9809/metrics from the node failed: ${err}`);
  return out;
}

describe('netpol deployed as a fleet on a real node, driven by an unprivileged user', () => {
  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('these tests need root (a real node: namespaces, cgroups, eBPF)');
    ensureBuilt();
    ensureBpfBuilt();
    work = mkdtempSync(join(tmpdir(), 'netpol-fleet-'));
    node = await RealNode.start();
    timings.nodeUpMs = node.startMs;
    const { imageBuildMs, pushMs } = pushNetpolImage(node, work);
    Object.assign(timings, { imageBuildMs, pushMs });
    userKubeconfig = userKubeconfigIn(node, work);
    home = join(work, 'home');
    mkdirSync(home);
    chownSync(home, 65534, 65534);
  }, 300_000);

  afterAll(async () => {
    for (const p of started) await p.interrupt();
    // eslint-disable-next-line no-console
    console.log(`node-fleet timings: ${JSON.stringify(timings)}`);
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('deploys the agents as the unprivileged user: Ready', async () => {
    const t = Date.now();
    const r = await asUser(['deploy', '--timeout', '90s']);
    timings.deployToReadyMs = Date.now() - t;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^netpol agent ready on 1 node\(s\) in [\d.]+s: netpol-node\n$/);
    const pods = JSON.parse((await node.kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=netpol-agent', '-o', 'json'])).stdout) as {
      items: { status: { podIP: string; conditions: { type: string; status: string }[] } }[];
    };
    expect(pods.items).toHaveLength(1);
    expect(pods.items[0]!.status.conditions).toContainEqual(expect.objectContaining({ type: 'Ready', status: 'True' }));
    agentIP = pods.items[0]!.status.podIP;
  }, 150_000);

  describe('the seed walkthrough, from the user\'s shell through the agents', () => {
    /** `kubectl run` of the seed's pod (replacing an earlier one); its verdict line once it ends, and when its container started. */
    async function runSeedPod(ip: string): Promise<{ verdict: string; startedAt: number }> {
      await node.kubectl(['delete', 'pod', 'mypod', '--ignore-not-found', '--wait=true']);
      await node.kubectl(['run', '--restart=Never', '--image=busybox', 'mypod', '--', 'sh', '-c', seedCommand(ip)]);
      const pod = await until('mypod to end', async () => {
        const p = JSON.parse((await node.kubectl(['get', 'pod', 'mypod', '-o', 'json'])).stdout) as {
          status: { phase: string; containerStatuses?: { state: { terminated?: { startedAt: string } } }[] };
        };
        return p.status.phase === 'Succeeded' || p.status.phase === 'Failed' ? p : undefined;
      }, 60_000);
      // The log interleaves stdout with sh's and wget's stderr in no fixed order: the verdict lines.
      const verdict = (await node.kubectl(['logs', 'mypod'])).stdout.split('\n').filter((l) => l === 'ok' || l === 'failed').join(',');
      return { verdict, startedAt: Date.parse(pod.status.containerStatuses![0]!.state.terminated!.startedAt) };
    }

    const row = (ip: string, port: number): RegExp =>
      new RegExp(`^${node.name.padEnd(24)} ${'default'.padEnd(24)} ${'mypod'.padEnd(24)} ${'mypod'.padEnd(24)} \\d+ +wget +4  p/default/mypod:\\d+ +r/${esc(ip)}:${port}$`);

    it('kubectl run prints ok, and trace tcpconnect --podname mypod shows the lines for 80 and 443', async () => {
      const trace = new UserProcess(['trace', 'tcpconnect', '--podname', 'mypod']);
      await trace.waitFor('the trace header', () => (trace.lines.length >= 1 ? true : undefined));
      const pod = await runSeedPod(INTERNET);
      expect(pod.verdict).toBe('ok');
      await trace.waitFor('two connects', () => (trace.lines.length >= 3 ? true : undefined));
      // From the container's start (second resolution) to the line on the user's terminal.
      timings.traceFirstLineAfterContainerStartMs = trace.arrivals[1]! - pod.startedAt;
      await sleep(1000); // nothing more may come: a third connect would be a duplicate
      expect(await trace.interrupt()).toBe(0);
      expect(trace.stderr).toBe('mode: streaming from the netpol agents (daemonset netpol-system/netpol-agent)\n2 connects traced, 0 lost\n');
      expect(trace.lines[0]).toBe(SEED_HEADER);
      expect(trace.lines).toHaveLength(3);
      expect(trace.lines[1]).toMatch(row(INTERNET, 80));
      expect(trace.lines[2]).toMatch(row(INTERNET, 443)); // the redirect to HTTPS, as 1.1.1.1 does
    }, 120_000);

    it('learn -l run=mypod --apply (from the TrafficProfiles) applies the seed policy; the pod again prints ok', async () => {
      // The agent writes profiles every 10 s: wait until mypod's holds both edges.
      const t = Date.now();
      await until('mypod\'s profile with both edges', async () => {
        const p = (await profiles()).find((x) => x.spec.workload.namespace === 'default' && x.spec.workload.name === 'mypod');
        const ports = (p?.status?.edges ?? []).filter((e) => e.peer.address === INTERNET && e.outcome === 'established').map((e) => e.port);
        return ports.includes(80) && ports.includes(443) ? true : undefined;
      }, 60_000);
      timings.profileHoldsEdgesMs = Date.now() - t;
      const out = join(home, 'seed-policies');
      const r = await asUser(['learn', '-l', 'run=mypod', '--apply', '--out', out]);
      // eslint-disable-next-line no-console
      console.log(`learn --apply:\n${r.stderr}${r.stdout}`);
      expect(r.code, r.stderr).toBe(0);
      const policies = policiesIn(out);
      expect(policies).toHaveLength(1);
      const expected = {
        namespace: 'default',
        name: 'mypod',
        podSelector: 'run=mypod',
        policyTypes: ['egress'],
        // The profile records that its agent observed UDP (status.protocols) and mypod made no lookup
        // (wget to an address): as in node-seed.test.ts's on-node learn, no DNS rule is added.
        allows: {
          ingress: [],
          egress: [`ipBlock ${INTERNET}/32 on TCP/443`, `ipBlock ${INTERNET}/32 on TCP/80`].sort(),
        },
      };
      expect(normalizePolicy(policies[0]!.policy)).toEqual(expected);
      expect(policies[0]!.policy.metadata?.annotations?.['netpol.io/dns']).toBe('not-observed');
      expect(r.stderr).not.toContain('dns: assumed');
      const live = JSON.parse((await node.kubectl(['get', 'networkpolicy', 'mypod', '-n', 'default', '-o', 'json'])).stdout) as V1NetworkPolicy;
      expect(normalizePolicy(live)).toEqual(expected);
      expect((await runSeedPod(INTERNET)).verdict).toBe('ok');
    }, 120_000);

    it('the pod changed to 198.51.100.20 prints failed; trace shows the attempt and audit flags it as dropped by the learned policy', async () => {
      const trace = new UserProcess(['trace', 'tcpconnect', '--podname', 'mypod']);
      const audit = new UserProcess(['audit', '-o', 'json']);
      await trace.waitFor('the trace header', () => (trace.lines.length >= 1 ? true : undefined));
      await audit.waitFor('audit streaming', () => (audit.stderr.includes(`streaming verdicts from the agent on node ${node.name}\n`) ? true : undefined));
      const pod = await runSeedPod(ELSEWHERE);
      expect(pod.verdict).toBe('failed');
      const line = await audit.waitFor('the dropped audit line', () => auditRecords(audit).find((x) => x.record.dst === `r/${ELSEWHERE}:80`));
      timings.auditLineAfterContainerStartMs = line.at - pod.startedAt;
      expect(line.record).toMatchObject({ verdict: 'dropped', staged: false, policy: 'default/mypod', gate: 'egress', workload: 'default/Pod/mypod', proto: 'TCP', node: node.name });
      expect(['timeout', 'closed']).toContain(line.record.outcome);
      await trace.waitFor('the attempt in the trace', () => (trace.lines.length >= 2 ? true : undefined));
      await sleep(1000);
      expect(await trace.interrupt()).toBe(0);
      expect(await audit.interrupt()).toBe(0);
      expect(trace.lines.slice(1)).toHaveLength(1);
      expect(trace.lines[1]).toMatch(row(ELSEWHERE, 80));
      // Every record this audit printed is the learned policy's judgement of that attempt.
      expect(auditRecords(audit).map((x) => [x.record.verdict, x.record.policy, x.record.dst])).toEqual([['dropped', 'default/mypod', `r/${ELSEWHERE}:80`]]);
    }, 120_000);
  });

  describe('a learned policy staged, judged by the deployed agent, promoted and enforced', () => {
    const clientPod = async (): Promise<string> =>
      (await node.kubectl(['get', 'pods', '-n', 'shop-client', '-l', 'app=client', '-o', 'jsonpath={.items[0].metadata.name}'])).stdout;
    const fromClient = async (command: string): Promise<string> =>
      (await node.kubectl(['exec', '-n', 'shop-client', await clientPod(), '--', 'sh', '-c', command], { allowFail: true })).stdout.trim();
    const callWeb = () => fromClient('timeout 3 nc web.shop-web.svc.cluster.local 80 </dev/null || echo unreachable');
    const callOutside = () => fromClient(`timeout 3 wget -q -O /dev/null http://${INTERNET} && echo ok || echo failed`);

    it('stage → audit line, Event and metric within seconds; promote --quiet-for refuses naming the flow; --force enforces; the dataplane drops it and audit names the policy; status shows the agent and the profiles', async () => {
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
      ];
      const file = join(work, 'apps.yaml');
      writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
      await node.kubectl(['apply', '-f', file]);
      for (const ns of ['shop-web', 'shop-client']) await node.kubectl(['wait', '--for=condition=Available', 'deployment', '--all', '-n', ns, '--timeout=90s'], { timeoutMs: 100_000 });

      // What the client does, learned from the agent's profiles: it calls web by name.
      await until('web to answer', async () => (/^tcpserver /.test(await callWeb()) ? true : undefined), 30_000);
      await until('the client\'s profile with its call to web', async () => {
        const p = (await profiles()).find((x) => x.spec.workload.namespace === 'shop-client' && x.spec.workload.name === 'client');
        return (p?.status?.edges ?? []).some((e) => e.via?.name === 'web' && e.outcome === 'established') ? true : undefined;
      }, 60_000);
      const out = join(home, 'shop-policies');
      const learned = await asUser(['learn', '-n', 'shop-client', '-l', 'app=client', '--out', out]);
      expect(learned.code, learned.stderr).toBe(0);
      expect(policiesIn(out).map((p) => `${p.policy.metadata!.namespace}/${p.policy.metadata!.name}`)).toEqual(['shop-client/client']);

      // Staged, not applied: nothing is enforced.
      const staged = await asUser(['stage', out]);
      expect(staged.stderr).toBe('');
      expect(staged.code).toBe(0);
      expect(staged.stdout).toMatch(/stagednetworkpolicy\.netpol\.io\/client created {2}\(namespace shop-client/);
      const policyKey = 'shop-client/client';
      expect((await node.kubectl(['get', 'networkpolicy', '-n', 'shop-client', '-o', 'name'])).stdout).toBe('');

      const stagedAudit = new UserProcess(['audit', '-n', 'shop-client', '--staged-only', '-o', 'json']);
      const audit = new UserProcess(['audit', '-n', 'shop-client', '-o', 'json']);
      for (const a of [stagedAudit, audit]) await a.waitFor('audit streaming', () => (a.stderr.includes(`streaming verdicts from the agent on node ${node.name}\n`) ? true : undefined));
      // The agent's judge picks the staged policy up from its watch: the learned call is allowed by it.
      const judging = async () => /^netpol_judge_staged_policies 1$/m.test(await agentMetrics()) || undefined;
      await until('the staged policy in the agent\'s judge', judging, 30_000, () => 'netpol_judge_staged_policies never 1');
      expect(await callWeb()).toMatch(/^tcpserver /);

      const t0 = Date.now();
      expect(await callOutside()).toBe('ok'); // not enforced: it still works
      const line = await stagedAudit.waitFor('the would-deny audit line', () => auditRecords(stagedAudit).find((x) => x.record.dst === `r/${INTERNET}:80`));
      timings.stagedAuditLineMs = line.at - t0;
      expect(line.record).toMatchObject({ verdict: 'would-deny', staged: true, policy: policyKey, gate: 'egress', workload: 'shop-client/Deployment/client', proto: 'TCP', outcome: 'established' });
      const event = await until('the Event on the Deployment', async () => {
        const list = JSON.parse((await node.kubectl(['get', 'events', '-n', 'shop-client', '-o', 'json'])).stdout) as {
          items: Array<{ reason: string; message: string; involvedObject: { kind: string; name: string } }>;
        };
        return list.items.find((e) => e.reason === 'StagedPolicyWouldDeny' && e.message.includes(`${INTERNET}:80/`));
      });
      timings.stagedEventMs = Date.now() - t0;
      expect(event.involvedObject).toMatchObject({ kind: 'Deployment', name: 'client' });
      expect(event.message).toBe(`connect from shop-client/Deployment/client to r/${INTERNET}:80/TCP would be denied by staged policy ${policyKey} (egress)`);
      const metric = new RegExp(`^netpol_judge_verdicts_total\\{verdict="would_deny",policy="${esc(policyKey)}",gate="egress"\\} ([1-9]\\d*)$`, 'm');
      const metrics = await until('the would-deny metric', async () => (metric.test(await agentMetrics()) ? await agentMetrics() : undefined), 15_000);
      timings.stagedMetricMs = Date.now() - t0;
      // The egress sample counts each would-deny egress record once (wget goes to :80, then :443 on
      // the redirect). CoreDNS's UDP replies to the client's lookups are not sends (node-udp-replies
      // checks that no ingress record comes of them); the count is of egress records.
      const wouldDeny = auditRecords(stagedAudit).filter((x) => x.record.policy === policyKey && x.record.gate === 'egress');
      expect(Number(metric.exec(metrics)![1]), JSON.stringify(wouldDeny.map((x) => x.record))).toBe(wouldDeny.length);
      expect(auditRecords(stagedAudit).every((x) => x.record.verdict === 'would-deny')).toBe(true);
      expect(wouldDeny.map((x) => x.record.dst).every((d) => d === `r/${INTERNET}:80` || d === `r/${INTERNET}:443`)).toBe(true);

      // promote refuses while that flow is in the window, and names it.
      await until('the evidence in the staged policy\'s status', async () => {
        const got = JSON.parse((await node.kubectl(['get', 'stagednetworkpolicy', 'client', '-n', 'shop-client', '-o', 'json'])).stdout) as { status?: { wouldDeny?: number } };
        return (got.status?.wouldDeny ?? 0) >= 1 ? true : undefined;
      });
      let r = await asUser(['promote', 'client', '-n', 'shop-client', '--quiet-for', '1h']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toMatch(new RegExp(`shop-client/Deployment/client → r/${esc(INTERNET)}:80 TCP \\(egress\\) ×\\d+, last `));
      expect(r.stdout).toMatch(/refused: not promoting/);
      expect((await node.kubectl(['get', 'networkpolicy', '-n', 'shop-client', '-o', 'name'])).stdout).toBe('');
      r = await asUser(['promote', 'client', '-n', 'shop-client', '--force']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/promoted and removed/);

      // Enforced now: the learned call still works, the unlearned one is dropped by the dataplane,
      // and audit names the policy that dropped it.
      let outside = await callOutside();
      const enforcedBy = Date.now() + 15_000;
      while (outside !== 'failed' && Date.now() < enforcedBy) outside = await callOutside();
      expect(outside).toBe('failed');
      expect(await callWeb()).toMatch(/^tcpserver /);
      const dropped = await audit.waitFor('the dropped audit line', () => auditRecords(audit).find((x) => x.record.verdict === 'dropped' && x.record.dst === `r/${INTERNET}:80`));
      expect(dropped.record).toMatchObject({ staged: false, policy: policyKey, gate: 'egress', workload: 'shop-client/Deployment/client' });
      expect(['timeout', 'closed']).toContain(dropped.record.outcome);
      // The staged-only stream never shows an enforced verdict.
      expect(auditRecords(stagedAudit).every((x) => x.record.staged)).toBe(true);
      expect(await stagedAudit.interrupt()).toBe(0);
      expect(await audit.interrupt()).toBe(0);

      const status = await asUser(['status']);
      // eslint-disable-next-line no-console
      console.log(`status:\n${status.stdout}${status.stderr}`);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(new RegExp(`^${esc(node.name)} .*netpol-agent-[a-z0-9]+ .*\\btrue\\b`, 'm'));
      expect(status.stdout).toMatch(/^Traffic profiles:$/m);
      expect(status.stdout).toMatch(/^shop-client +1 +[1-9]\d* /m);
      expect(status.stdout).toMatch(/^default +1 +[1-9]\d* /m);
    }, 300_000);
  });
});
