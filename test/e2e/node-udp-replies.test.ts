// CoreDNS's answers on the real node are not flows, and DNS is learned from the cluster's profiles
// (test/node/up.sh: kubelet, containerd, kube-proxy, CoreDNS, kube-network-policies). `netpol agent`
// runs on the node's side as its DaemonSet pod does (both sinks: TrafficProfiles and the live judge),
// with a staged policy that isolates the client's ingress. The client pod looks names up through
// CoreDNS (each lookup from a new ephemeral port):
//   - no would-deny ingress audit record and no Event for CoreDNS's replies, while a real connect
//     into the client (a positive control) is reported as would-deny ingress;
//   - CoreDNS's profile holds no edge to the client; the client's holds its lookups (UDP 53 via
//     kube-dns) and says UDP was observed (status.protocols);
//   - `learn --source profiles` from the host learns the DNS rule from those lookups
//     (netpol.io/dns: observed, UDP 53 only).
//
// Run under the node lock: flock /tmp/netpol-node.lock npx vitest run test/e2e/node-udp-replies.test.ts
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { TrafficProfile } from '../../src/cluster/profile/types.js';
import type { AuditRecord } from '../../src/daemon/judge-sink.js';
import { netpolAsync } from '../support/cli.js';
import type { RealNode } from './support/node.js';
import { applyObjects, installNetpolCrds, netpolOnNodeArgv, startNodeSuite, Watched } from './support/node-suite.js';

const NS = 'dns-replies';
const LOOKUPS = 6;
const STREAM = `
  const http = require('node:http');
  http.get(process.argv[1], (res) => {
    process.stderr.write('status ' + res.statusCode + '\\n');
    res.pipe(process.stdout);
  });`;
const GET = `
  const http = require('node:http');
  http.get(process.argv[1], (res) => { let b = ''; res.on('data', (d) => (b += d)); res.on('end', () => process.stdout.write(b)); })
    .on('error', (e) => process.stdout.write(JSON.stringify({ error: e.code })));`;

describe("CoreDNS's replies on a real node: not flows; DNS learned from the profiles", () => {
  let node: RealNode;
  let work: string;
  let agent: Watched | undefined;
  let audit: Watched | undefined;

  const onNode = (argv: string[]) => new Watched(node.spawnOnNode(argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const records = (): AuditRecord[] =>
    (audit?.lines ?? []).flatMap((l) => {
      try {
        const r = JSON.parse(l) as AuditRecord;
        return r.v === 1 ? [r] : [];
      } catch {
        return [];
      }
    });
  async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nagent:\n${agent?.stderr}\naudit:\n${audit?.stdout}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  async function agentStatus(): Promise<string> {
    const p = onNode([process.execPath, '-e', GET, 'http://127.0.0.1:9808/v1/status']);
    await p.exited;
    return p.stdout;
  }
  const podOf = async (app: string) => (await node.kubectl(['get', 'pods', '-n', NS, '-l', `app=${app}`, '-o', 'jsonpath={.items[0].metadata.name}'])).stdout;
  const profiles = async () => (JSON.parse((await node.kubectl(['get', 'trafficprofiles.netpol.io', '-A', '-o', 'json'])).stdout) as { items: TrafficProfile[] }).items;

  beforeAll(async () => {
    ({ node, work } = await startNodeSuite('netpol-node-udp-replies-'));
    await installNetpolCrds(node);
    const deployment = (name: string) => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: 'busybox', command: ['sleep', '3600'] }] } },
      },
    });
    await applyObjects(node, work, [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      deployment('client'),
      deployment('prober'),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'named', namespace: NS }, spec: { selector: { app: 'client' }, ports: [{ port: 80 }] } },
    ]);
    await node.kubectl(['wait', '--for=condition=Available', 'deployment', '--all', '-n', NS, '--timeout=90s']);
  }, 600_000);

  afterAll(async () => {
    for (const p of [audit, agent]) if (p && p.child.exitCode === null) p.child.kill('SIGKILL');
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('no would-deny ingress and no Event for the replies, no reply edges in CoreDNS profile, DNS learned as observed from the profiles', async () => {
    // Staged (not enforced): the client isolated for ingress, nothing allowed in.
    const staged = join(work, 'isolate-client.yaml');
    writeFileSync(
      staged,
      JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'isolate-client', namespace: NS }, spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Ingress'] } }),
    );
    const r = await netpolAsync(['stage', staged, '--kubeconfig', node.kubeconfig]);
    expect(r.code, r.stderr).toBe(0);

    agent = onNode(['env', `NETPOL_PROFILE_DIR=${join(work, 'profile-journal')}`, 'NETPOL_PROFILE_FLUSH=1s', ...netpolOnNodeArgv(node, ['agent'])]);
    await until('the agent to attach', () => (agent!.stderr.includes('BPF programs attached') ? true : undefined), 90_000);
    expect(agent.stderr).not.toContain('UDP is not observed');
    await until('the staged policy in the judge', async () => (/"staged":1\b/.test(await agentStatus()) ? true : undefined));
    audit = onNode([process.execPath, '-e', STREAM, 'http://127.0.0.1:9808/v1/audit']);
    await audit.waitFor('the audit stream', () => audit!.stderr.includes('status 200'));

    const client = await podOf('client');
    const clientIP = (await node.kubectl(['get', 'pod', '-n', NS, client, '-o', 'jsonpath={.status.podIP}'])).stdout;
    // The lookups: each busybox nslookup is a new socket, so a new ephemeral port CoreDNS answers.
    const out = await node.kubectl(['exec', '-n', NS, client, '--', 'sh', '-c', `for i in $(seq ${LOOKUPS}); do timeout 5 nslookup named.${NS}.svc.cluster.local; done 2>&1`]);
    expect(out.stdout.match(/Name:\s+named\./g)?.length).toBe(LOOKUPS);
    // The positive control: a connect into the client (nothing listens: refused) is judged at its ingress.
    await node.kubectl(['exec', '-n', NS, await podOf('prober'), '--', 'sh', '-c', `nc -w 2 ${clientIP} 8080 </dev/null; true`]);
    const control = await until('the would-deny ingress record of the control', () =>
      records().find((x) => x.verdict === 'would-deny' && x.gate === 'ingress' && x.workload === `${NS}/Deployment/prober`),
    );
    expect(control).toMatchObject({ staged: true, policy: `${NS}/isolate-client`, proto: 'TCP' });

    // The replies: nothing judged for them, no Event on CoreDNS.
    await new Promise((r) => setTimeout(r, 3000)); // event flush (2 s) and profile flush (1 s) included
    const fromDns = records().filter((x) => x.namespace === 'kube-system' || x.workload.startsWith('kube-system/'));
    expect(fromDns, JSON.stringify(fromDns, null, 1)).toEqual([]);
    expect(records().filter((x) => x.gate === 'ingress' && x.proto === 'UDP')).toEqual([]);
    // An ingress finding's Event is on the gate's end (the client's Deployment), naming the source.
    const wouldDenyEvents = async () =>
      (JSON.parse((await node.kubectl(['get', 'events', '-n', NS, '-o', 'json'])).stdout) as { items: Array<{ reason: string; message: string; involvedObject: { kind: string; name: string } }> }).items.filter(
        (e) => e.reason === 'StagedPolicyWouldDeny',
      );
    const controlEvent = await until('the Event of the control', async () => (await wouldDenyEvents()).find((e) => e.message.includes(`from ${NS}/Deployment/prober `)));
    expect(controlEvent.involvedObject).toMatchObject({ kind: 'Deployment', name: 'client' });
    expect((await wouldDenyEvents()).filter((e) => e.message.includes('kube-system/')).map((e) => e.message)).toEqual([]);

    // The profiles: CoreDNS's holds no edge to the client; the client's holds its lookups, UDP observed.
    const all = await until('the client profile', async () => {
      const items = await profiles();
      return items.some((p) => p.spec.workload.namespace === NS && p.spec.workload.name === 'client' && p.status?.edges.some((e) => e.protocol === 'UDP')) ? items : undefined;
    });
    const dnsEdges = all.filter((p) => p.spec.workload.namespace === 'kube-system').flatMap((p) => p.status?.edges ?? []);
    expect(dnsEdges.filter((e) => 'workload' in e.peer && e.peer.workload.namespace === NS)).toEqual([]);
    const clientProfile = all.find((p) => p.spec.workload.namespace === NS && p.spec.workload.name === 'client')!;
    expect(clientProfile.status!.edges.map((e) => `${e.protocol} ${'workload' in e.peer ? `${e.peer.workload.namespace}/${e.peer.workload.name}` : '?'} ${e.via?.name}:${e.port}`)).toEqual(['UDP kube-system/coredns kube-dns:53']);
    expect(clientProfile.status!.edges[0]!.count).toBeGreaterThanOrEqual(LOOKUPS);
    const udp = clientProfile.status!.protocols?.find((p) => p.protocol === 'UDP');
    expect(udp?.since).toBeDefined();
    expect(Date.parse(udp!.since!)).toBeLessThanOrEqual(Date.parse(clientProfile.status!.edges[0]!.firstSeen));

    // Learned from the profiles, from the host (a kubeconfig, no root): DNS observed, UDP 53 only.
    const policies = join(work, 'policies');
    const learned = await netpolAsync(['learn', '--source', 'profiles', '-n', NS, '-l', 'app=client', '--out', policies, '--kubeconfig', node.kubeconfig]);
    expect(learned.code, learned.stderr).toBe(0);
    const policy = parseYaml(readFileSync(join(policies, NS, 'client.yaml'), 'utf8')) as Record<string, any>;
    expect(policy.metadata.annotations['netpol.io/dns']).toBe('observed');
    expect(policy.spec.egress).toEqual([
      { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ protocol: 'UDP', port: 53 }] },
    ]);
    expect(learned.stderr).toContain('dns: learned from observed lookups to kube-system/k8s-app=kube-dns for 1 policy');
  }, 300_000);
});
