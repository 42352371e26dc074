// The node agent reports connects as made only while a client wants them (src/daemon/as-made.ts),
// with the real kernel and a real API server (test/cluster), in process: the sockops hook is not
// attached with no /v1/connects client asking for connects as made (the kernel's word: this
// process's link descriptors), attached while one streams, detached after the linger once it
// left; status and /metrics say so; a connect whose SYN went out before the hook was attached
// reaches the client once, when answered; and a restarted pinned agent detaches the hook its
// predecessor left attached when nobody wants it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../support/until.js';
import { NodeAgent } from '../../src/daemon/node-agent.js';
import type { AgentStatus } from '../../src/daemon/protocol.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { createNamespace, ensureCluster, TestNode, type TestCluster, type TestPod } from './support/cluster.js';
import { destroyAll } from './support/netns.js';
import { sockopsLinksOf } from './support/sockops-links.js';
import { getOnce as get } from '../support/http.js';

const INTERNET = '203.0.113.10';
/** An outside host whose first SYN is dropped: its connect is in flight across the switch. */
const SLOW = '203.0.113.11';
const LINGER_MS = 1000;

interface Line {
  when: string;
  event: { daddr: string; sport: number; dport: number; outcome: string };
}

/** A /v1/connects client: its lines as they come; close() leaves. */
function streamClient(port: number, query: string): { lines: Line[]; close: () => void } {
  const lines: Line[] = [];
  let buf = '';
  const req = http.get({ host: '127.0.0.1', port, path: `/v1/connects?${query}`, agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)) as Line;
        buf = buf.slice(nl + 1);
        if ('event' in line) lines.push(line);
      }
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  return { lines, close: () => req.destroy() };
}

describe('the node agent reports connects as made on demand, with the real kernel and a real API server', () => {
  let c: TestCluster;
  let node: TestNode;
  let agent: NodeAgent;
  let here: TestPod;
  let ns: string;
  const table = `netpol_asmade_${process.pid}`;

  const status = async (): Promise<AgentStatus> => JSON.parse((await get(agent.apiAddress!.port, '/v1/status')).body) as AgentStatus;
  const gauge = async (a = agent): Promise<string | undefined> => /^netpol_connects_as_made (\d+)$/m.exec((await get(a.healthAddress!.port, '/metrics')).body)?.[1];

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (eBPF)');
    ensureBpfBuilt();
    c = await ensureCluster();
    node = await TestNode.create(c, 'asmade-node');
    await node.addOutsideHost(INTERNET, [80]);
    await node.addOutsideHost(SLOW, [80]);
    agent = new NodeAgent({ node: 'asmade-node', kubeconfig: c.kubeconfig, api: { host: '127.0.0.1', port: 0 }, health: { host: '127.0.0.1', port: 0 }, asMadeLingerMs: LINGER_MS });
    await agent.start();
    ns = await createNamespace(c, 'asmade');
    here = await node.runPod(ns, { name: 'here' });
    await until('the agent ready', () => agent.readiness().ready);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    try {
      node?.router.exec(['nft', 'delete', 'table', 'ip', table]);
    } catch {
      /* not there */
    }
    await node?.destroy();
    destroyAll();
  });

  it('attaches the sockops hook only while a client wants connects as made, and detaches it after the linger', async () => {
    const api = agent.apiAddress!.port;
    expect((await status()).connectsAsMade).toEqual({ reported: false, wantedBy: 0 });
    expect(sockopsLinksOf(process.pid)).toEqual([]);
    expect(await gauge()).toBe('0');
    // Answers only, or UDP only: no hook.
    const answers = streamClient(api, 'when=answer');
    const udp = streamClient(api, 'when=connect&proto=udp');
    await until('two clients', () => agent.status().subscribers === 2);
    expect(sockopsLinksOf(process.pid)).toEqual([]);

    const made = streamClient(api, `podname=here&namespace=${ns}`);
    await until('the hook attached', () => agent.status().connectsAsMade.reported);
    expect(sockopsLinksOf(process.pid)).toHaveLength(1);
    const s = await status();
    expect(s.connectsAsMade).toEqual({ reported: true, wantedBy: 1 });
    expect(s.sinks.stream).toMatchObject({ asMade: true, subscribers: 3 });
    expect(await gauge()).toBe('1');
    await here.wget(INTERNET, 80);
    await until('the connect as made', () => made.lines.length > 0);
    expect(made.lines[0]).toMatchObject({ when: 'connect', event: { daddr: INTERNET, outcome: 'connecting' } });

    made.close();
    await until('the client gone', () => agent.status().subscribers === 2);
    // Within the linger: still attached (a reconnecting client does not flap it).
    expect(sockopsLinksOf(process.pid)).toHaveLength(1);
    await until('the hook detached', () => !agent.status().connectsAsMade.reported, LINGER_MS + 5000);
    expect(sockopsLinksOf(process.pid)).toEqual([]);
    expect(await gauge()).toBe('0');
    answers.close();
    udp.close();
  });

  it('gives a client every connect across the switch: one whose SYN went out before the attach comes when answered, once', async () => {
    const api = agent.apiAddress!.port;
    await until('the hook detached', () => !agent.status().connectsAsMade.reported, LINGER_MS + 5000);
    // The first SYN to SLOW is dropped: the connect is answered at its retransmission (1 s later),
    // after the client below has had the hook attached.
    const rules = `table ip ${table} {\n chain input {\n  type filter hook input priority 0;\n  ip daddr ${SLOW} tcp dport 80 drop\n }\n}\n`;
    execFileSync('ip', ['netns', 'exec', node.router.name, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'pipe', 'pipe'] });
    const slow = here.wgetProcess(SLOW, 80);
    // Its SYN out (and dropped) while the hook is detached.
    await until('the SYN to SLOW sent', () => here.netns.exec(['ss', '-Htn', 'state', 'syn-sent', 'dst', SLOW]).trim() !== '');
    expect(sockopsLinksOf(process.pid)).toEqual([]);
    const answered = agent.status().connects.answered;
    const client = streamClient(api, `podname=here&namespace=${ns}`);
    await until('the hook attached', () => agent.status().connectsAsMade.reported);
    // Still in flight: its answer comes after the attach.
    expect(here.netns.exec(['ss', '-Htn', 'state', 'syn-sent', 'dst', SLOW]).trim()).not.toBe('');
    expect(agent.status().connects.answered).toBe(answered);
    node.router.exec(['nft', 'delete', 'table', 'ip', table]);
    await here.wget(INTERNET, 80);
    expect(await slow.exited).toBe(0);
    await until('both connects', () => client.lines.some((l) => l.event.daddr === SLOW) && client.lines.some((l) => l.event.daddr === INTERNET));
    await new Promise((r) => setTimeout(r, 500)); // anything more (a duplicate) would have come by now
    const toSlow = client.lines.filter((l) => l.event.daddr === SLOW);
    const toInternet = client.lines.filter((l) => l.event.daddr === INTERNET);
    expect(toSlow).toHaveLength(1);
    expect(toSlow[0]).toMatchObject({ when: 'answer', event: { outcome: 'established' } });
    expect(toInternet).toHaveLength(1);
    expect(toInternet[0]).toMatchObject({ when: 'connect', event: { outcome: 'connecting' } });
    client.close();
  });

  it('a restarted pinned agent finds the hook its predecessor left attached, and detaches it when nobody wants it', async () => {
    const fs = mkdtempSync(join(tmpdir(), 'netpol-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpf', fs]);
    const root = join(fs, 'netpol');
    const pinned = (): NodeAgent =>
      new NodeAgent({ node: 'asmade-node', kubeconfig: c.kubeconfig, api: { host: '127.0.0.1', port: 0 }, health: { host: '127.0.0.1', port: 0 }, asMadeLingerMs: LINGER_MS, pin: { mode: 'on', root } });
    const linkPins = (): string[] => readdirSync(root).flatMap((d) => readdirSync(join(root, d)).filter((f) => f === 'link_handle_sockops'));
    let first: NodeAgent | undefined;
    let second: NodeAgent | undefined;
    try {
      first = pinned();
      await first.start();
      expect(linkPins()).toEqual([]);
      const client = streamClient(first.apiAddress!.port, 'when=connect');
      await until('the hook attached', () => first!.status().connectsAsMade.reported);
      expect(linkPins()).toEqual(['link_handle_sockops']);
      await first.stop();
      client.close();
      // Kept for the next agent, as it was.
      expect(linkPins()).toEqual(['link_handle_sockops']);

      second = pinned();
      await second.start();
      expect(second.status().kernelState).toMatchObject({ pinned: true, reopened: true });
      expect(second.status().connectsAsMade).toEqual({ reported: true, wantedBy: 0 });
      expect(await gauge(second)).toBe('1');
      await until('the hook detached', () => !second!.status().connectsAsMade.reported, LINGER_MS + 5000);
      expect(linkPins()).toEqual([]);
      expect(await gauge(second)).toBe('0');
    } finally {
      await first?.stop();
      await second?.stop();
      execFileSync('umount', [fs]);
      rmSync(fs, { recursive: true, force: true });
    }
  });
});
