// The seed's Kubernetes walkthrough, literally, on a real node (test/node/up.sh: kubelet, containerd,
// CNI, kube-proxy, kube-network-policies enforcing NetworkPolicy, CoreDNS), with 203.0.113.10 for
// 1.1.1.1 and 198.51.100.20 for 1.0.0.1:
//
//   kubectl run --restart=Never --image=busybox mypod -- sh -c '… wget http://203.0.113.10 …'   → ok
//   netpol trace tcpconnect --podname mypod      (on the node)  → the lines for 80 and 443
//   netpol learn -l run=mypod                    (on the node)  → the seed's policy, applied with kubectl
//                                                                  (UDP observed: the pod resolved no name, so no DNS rule)
//   the pod again                                                → ok (the real dataplane allows it)
//   the pod changed to 198.51.100.20                             → failed, traced, and netpol diff flags it
//
// netpol runs as its node agent would: in the node's network and mount namespaces, the real binary.
import { netpolAsync } from '../support/cli.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizePolicy } from '../../src/policy/semantic-diff.js';
import type { RealNode } from './support/node.js';
import { netpolOnNode, policiesIn, startNodeSuite } from './support/node-suite.js';

const INTERNET = '203.0.113.10'; // the seed's 1.1.1.1
const ELSEWHERE = '198.51.100.20'; // the seed's 1.0.0.1
const SEED_HEADER =
  'K8S.NODE                 K8S.NAMESPACE            K8S.POD                  K8S.CONTAINER            PID        COMM          IP SRC                     DST';

/** The seed's pod command, with `timeout 3` since Debian's busybox wget has no -T. */
const seedCommand = (ip: string): string => `timeout 3 wget -q -O /dev/null http://${ip} && echo ok || echo failed`;

/** The real `netpol` binary run on the host (as a user's shell would). */
const netpol = netpolAsync;

describe('the seed walkthrough on a real node', () => {
  let node: RealNode;
  let work: string;

  /** `kubectl run` of the seed's pod (replacing an earlier one); resolves with its output once it ends. */
  async function runSeedPod(ip: string): Promise<string> {
    await node.kubectl(['delete', 'pod', 'mypod', '--ignore-not-found', '--wait=true']);
    await node.kubectl(['run', '--restart=Never', '--image=busybox', 'mypod', '--', 'sh', '-c', seedCommand(ip)]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const phase = (await node.kubectl(['get', 'pod', 'mypod', '-o', 'jsonpath={.status.phase}'])).stdout;
      if (phase === 'Succeeded' || phase === 'Failed') break;
      if (Date.now() > deadline) throw new Error(`mypod still ${phase} after 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // The verdict line: the log interleaves stdout with sh's and wget's stderr (wget's TLS note,
    // "Terminated" when timeout kills it) in no fixed order.
    const verdicts = (await node.kubectl(['logs', 'mypod'])).stdout.split('\n').filter((l) => l === 'ok' || l === 'failed');
    return verdicts.join(',');
  }

  beforeAll(async () => {
    ({ node, work } = await startNodeSuite('netpol-node-seed-'));
  });

  afterAll(async () => {
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('kubectl run prints ok, and trace tcpconnect --podname mypod prints the lines for 80 and 443', async () => {
    const trace = netpolOnNode(node, ['trace', 'tcpconnect', '--podname', 'mypod']);
    await trace.waitFor('the trace header', () => trace.lines.length >= 1);
    expect(await runSeedPod(INTERNET)).toBe('ok');
    await trace.waitFor('two connects', () => trace.lines.length >= 3);
    expect(await trace.interrupt()).toBe(0);
    expect(trace.lines[0]).toBe(SEED_HEADER);
    expect(trace.lines).toHaveLength(3);
    const row = (port: number): RegExp =>
      new RegExp(
        `^${node.name.padEnd(24)} ${'default'.padEnd(24)} ${'mypod'.padEnd(24)} ${'mypod'.padEnd(24)} \\d+ +wget +4  p/default/mypod:\\d+ +r/${INTERNET.replaceAll('.', '\\.')}:${port}$`,
      );
    expect(trace.lines[1]).toMatch(row(80));
    expect(trace.lines[2]).toMatch(row(443)); // the redirect to HTTPS, as 1.1.1.1 does
    // No agents deployed on this node: the in-process mode runs, and says so.
    expect(trace.stderr).toBe('mode: on this node, in-process (no daemonset netpol-system/netpol-agent; kubectl netpol deploy installs it)\n2 connects traced, 0 lost\n');
  });

  it('learn -l run=mypod writes the seed policy; applied with kubectl, the pod still prints ok', async () => {
    const out = join(work, 'policies');
    const learn = netpolOnNode(node, ['learn', '-l', 'run=mypod', '-n', 'default', '--out', out]);
    await learn.waitFor('learn observing', () => learn.stderr.includes('observing pods matching run=mypod'));
    expect(await runSeedPod(INTERNET)).toBe('ok');
    // Both connects are over once the pod ended; Ctrl-C stops learn, which then writes.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await learn.interrupt()).toBe(0);
    expect(learn.stderr).toMatch(/observed 2 distinct connections/);
    const policies = policiesIn(out);
    expect(policies).toHaveLength(1);
    expect(normalizePolicy(policies[0]!.policy)).toEqual({
      namespace: 'default',
      name: 'mypod',
      podSelector: 'run=mypod',
      policyTypes: ['egress'],
      // learn observed UDP too, and the seed's pod dials addresses: it made no lookup, so its policy
      // has no DNS rule (the seed's TCP-only tracing assumed one) and says why.
      allows: { ingress: [], egress: [`ipBlock ${INTERNET}/32 on TCP/443`, `ipBlock ${INTERNET}/32 on TCP/80`].sort() },
    });
    expect(policies[0]!.policy.metadata?.annotations?.['netpol.io/dns']).toBe('not-observed');
    const applied = await node.kubectl(['apply', '-f', policies[0]!.file]);
    expect(applied.stdout).toMatch(/networkpolicy\.networking\.k8s\.io\/mypod created/);
    // The real dataplane (kube-network-policies) now enforces it, and it allows what was learned.
    expect(await runSeedPod(INTERNET)).toBe('ok');
  });

  it('the pod changed to 198.51.100.20 prints failed; netpol traced the attempt and diff flags it', async () => {
    const out = join(work, 'policies');
    const record = join(work, 'later.jsonl');
    const trace = netpolOnNode(node, ['trace', 'tcpconnect', '--podname', 'mypod']);
    const learn = netpolOnNode(node, ['learn', '-l', 'run=mypod', '-n', 'default', '--record', record, '--out', join(work, 'later-policies')]);
    await trace.waitFor('the trace header', () => trace.lines.length >= 1);
    await learn.waitFor('learn observing', () => learn.stderr.includes('observing pods matching run=mypod'));
    expect(await runSeedPod(ELSEWHERE)).toBe('failed');
    await trace.waitFor('the attempt', () => trace.lines.length >= 2);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await trace.interrupt()).toBe(0);
    expect(await learn.interrupt()).toBe(0);
    // The attempt is in netpol's output: the same line as the allowed ones, to the other address.
    expect(trace.lines.slice(1)).toHaveLength(1);
    expect(trace.lines[1]).toMatch(new RegExp(` wget +4  p/default/mypod:\\d+ +r/${ELSEWHERE.replaceAll('.', '\\.')}:80$`));
    // diff: the cluster's applied policy (the learned files, no drift) denies it.
    const diff = await netpol(['diff', '--live', '--flows', record, '--policies', out, '--kubeconfig', node.kubeconfig]);
    expect(diff.stderr).toBe('');
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(/no drift/);
    expect(diff.stdout).toMatch(new RegExp(`denied +p/default/mypod +r/${ELSEWHERE.replaceAll('.', '\\.')}:80`));
  });
});
