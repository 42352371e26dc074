// The node agent (`netpol agent`) on a real node (test/node/up.sh), run as root on the node's side
// the way its DaemonSet pod will run it (the node's network and mount namespaces, NETPOL_NODE_NAME,
// a kubeconfig), with the real kernel and kubelet:
//
//   /readyz answers 503 with its reasons until the programs are attached and the view synced, then 200
//   a `kubectl run` pod connects out: the connect is on /v1/connects as made (when=connect) and
//   when answered (when=answer, with latency), filtered server-side; /metrics and /v1/status count it
//   SIGTERM: the streams end and the agent exits 0
//
// Run under the node lock: flock /tmp/netpol-node.lock npx vitest run test/e2e/node-agent.test.ts
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeLine, type WireConnect } from '../../src/daemon/protocol.js';
import { RealNode } from './support/node.js';
import { installNetpolCrds, netpolOnNodeArgv, nodePrerequisites, Watched } from './support/node-suite.js';

const INTERNET = '203.0.113.10';
const repo = resolve(import.meta.dirname, '..', '..');

/** A process on the node's side; its output as it comes. */
class OnNode extends Watched {
  constructor(node: RealNode, argv: string[]) {
    super(node.spawnOnNode(argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
  }
}

/** Node-side HTTP client scripts (the agent's API is on the node's loopback, as in its pod). */
const GET = `
  const http = require('node:http');
  http.get(process.argv[1], (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => { process.stdout.write(JSON.stringify({ status: res.statusCode, type: res.headers['content-type'], body })); });
  }).on('error', (e) => { process.stdout.write(JSON.stringify({ error: e.code })); });`;
const STREAM = `
  const http = require('node:http');
  http.get(process.argv[1], (res) => {
    process.stderr.write('status ' + res.statusCode + '\\n');
    res.pipe(process.stdout);
    res.on('end', () => process.stderr.write('end\\n'));
  });`;
/** Polls /readyz every 10 ms and prints each answer that differs from the one before, until 200. */
const READY_POLL = `
  const http = require('node:http');
  let last = '';
  const poll = () => http.get('http://127.0.0.1:9809/readyz', (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => {
      const line = JSON.stringify({ status: res.statusCode, body: JSON.parse(body) });
      if (line !== last) process.stdout.write(line + '\\n');
      last = line;
      if (res.statusCode === 200) process.exit(0);
      setTimeout(poll, 10);
    });
  }).on('error', () => setTimeout(poll, 10));
  poll();`;

describe('netpol agent on a real node', () => {
  let node: RealNode;
  let agent: OnNode;

  async function get(path: string): Promise<{ status: number; type: string; body: string }> {
    const p = new OnNode(node, [process.execPath, '-e', GET, `http://127.0.0.1${path}`]);
    await p.exited;
    return JSON.parse(p.stdout) as { status: number; type: string; body: string };
  }

  function stream(query: string): OnNode {
    return new OnNode(node, [process.execPath, '-e', STREAM, `http://127.0.0.1:9808/v1/connects?${query}`]);
  }

  function connects(s: OnNode): WireConnect[] {
    return s.lines.map((l) => decodeLine(l, 'agent')).flatMap((l) => (l.kind === 'connect' ? [l.connect] : []));
  }

  async function runPod(name: string, command: string): Promise<void> {
    await node.kubectl(['run', '--restart=Never', '--image=busybox', name, '--', 'sh', '-c', command]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const phase = (await node.kubectl(['get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).stdout;
      if (phase === 'Succeeded' || phase === 'Failed') return;
      if (Date.now() > deadline) throw new Error(`${name} still ${phase} after 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  beforeAll(async () => {
    nodePrerequisites();
    node = await RealNode.start();
    // The agent's sinks keep TrafficProfiles and read StagedNetworkPolicies: their CRDs come first.
    await installNetpolCrds(node);
  });

  afterAll(async () => {
    if (agent && agent.child.exitCode === null) agent.child.kill('SIGKILL');
    await node?.stop();
  });

  it('answers /readyz 503 with reasons until the programs are attached and the view synced, then 200', async () => {
    const poll = new OnNode(node, [process.execPath, '-e', READY_POLL]);
    agent = new OnNode(node, netpolOnNodeArgv(node, ['agent']));
    expect(await Promise.race([poll.exited, agent.exited.then((c) => `agent exited ${c}: ${agent.stderr}`)])).toBe(0);
    const answers = poll.lines.map((l) => JSON.parse(l) as { status: number; body: { ready: boolean; reasons: string[] } });
    expect(answers.length).toBeGreaterThanOrEqual(2);
    expect(answers[0]!.status).toBe(503);
    expect(answers[0]!.body.ready).toBe(false);
    expect(answers[0]!.body.reasons).toContain('BPF programs not attached yet');
    expect(answers.at(-1)).toEqual({ status: 200, body: { ready: true, reasons: [] } });
    expect((await get(':9809/healthz')).status).toBe(200);
    expect(agent.stderr).toContain(`on node ${node.name}`);
    expect(agent.stderr).toContain('BPF programs attached');
  });

  it('streams a pod\'s connect as made and when answered (with latency), filtered server-side; /metrics and /v1/status count it', async () => {
    const made = stream('podname=mypod&when=connect');
    const answered = stream(`namespace=default&selector=${encodeURIComponent('run in (mypod)')}&when=answer`);
    const other = stream('podname=someone-else&when=answer');
    for (const s of [made, answered, other]) await s.waitFor('the stream open', () => s.stderr.includes('status 200'));
    const before = JSON.parse((await get(':9808/v1/status')).body) as { subscribers: number };
    expect(before.subscribers).toBe(3);

    await runPod('mypod', `timeout 3 wget -q -O /dev/null http://${INTERNET} && echo ok || echo failed`);
    await made.waitFor('two connects as made', () => connects(made).length >= 2);
    await answered.waitFor('two answers', () => connects(answered).length >= 2);
    await new Promise((r) => setTimeout(r, 500));

    const m = connects(made);
    expect(m).toHaveLength(2);
    expect(m.map((c) => [c.when, c.event.outcome, c.event.dport, c.event.daddr, c.event.latencyNs])).toEqual([
      ['connect', 'connecting', 80, INTERNET, 0],
      ['connect', 'connecting', 443, INTERNET, 0],
    ]);
    for (const c of m) {
      expect(c).toMatchObject({ v: 1, node: node.name, namespace: 'default', pod: 'mypod', container: 'mypod' });
      expect(c.event.comm).toBe('wget');
      expect(c.flow.src).toMatchObject({ namespace: 'default', pod: 'mypod' });
      expect(c.flow.dst).toMatchObject({ ip: INTERNET });
    }
    const a = connects(answered);
    expect(a).toHaveLength(2);
    expect(a.map((c) => [c.when, c.event.outcome, c.event.dport])).toEqual([
      ['answer', 'established', 80],
      ['answer', 'established', 443],
    ]);
    for (const c of a) {
      expect(c.event.latencyNs).toBeGreaterThan(0);
      expect(c.event.latencyNs).toBeLessThan(3e9);
      expect(c.flow).toMatchObject({ outcome: 'established', latencyNs: c.event.latencyNs });
    }
    // The same connects: the source port of each answer is that of the connect as made.
    expect(a.map((c) => c.event.sport)).toEqual(m.map((c) => c.event.sport));
    expect(other.lines).toEqual([]);

    const metrics = await get(':9809/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics.body)?.[1]);
    expect(value('netpol_connects_total')).toBeGreaterThanOrEqual(2);
    expect(value('netpol_connects_made_total')).toBeGreaterThanOrEqual(2);
    expect(value('netpol_events_lost_total')).toBe(0);
    expect(value('netpol_subscribers')).toBe(3);
    expect(metrics.body).toContain('# TYPE netpol_connects_total counter');

    const status = JSON.parse((await get(':9808/v1/status')).body) as Record<string, any>;
    expect(status).toMatchObject({ v: 1, node: node.name, ready: true, reasons: [], subscribers: 3, connectsAsMade: { reported: true } });
    expect(status.version).toBe(`v${(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version}`);
    expect(status.connects.answered).toBeGreaterThanOrEqual(2);
    expect(status.events.total).toBeGreaterThanOrEqual(4);
    expect(status.events.kernelLost).toBe(0);
    expect(status.sinks.stream).toMatchObject({ subscribers: 3, lost: 0 });
    expect(Date.parse(status.startedAt)).toBeLessThan(Date.now());

    // A client that comes late asks for the recent past (since=) and misses nothing.
    const late = stream(`podname=mypod&when=answer&since=${encodeURIComponent(new Date(Date.now() - 20_000).toISOString())}`);
    await late.waitFor('the replayed answers', () => connects(late).length >= 2);
    expect(connects(late).map((c) => c.event.sport)).toEqual(a.map((c) => c.event.sport));

    // A bad filter is refused, naming the parameter.
    const bad = await get(':9808/v1/connects?selector=' + encodeURIComponent('a in ('));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/^selector: /);
    const unknown = await get(':9808/v1/connects?pod=mypod');
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body).error).toMatch(/^pod: unknown parameter/);

    for (const s of [made, answered, other, late]) s.child.kill();
  });

  it('SIGTERM: open streams end, the agent exits 0', async () => {
    const open = stream('when=answer');
    await open.waitFor('the stream open', () => open.stderr.includes('status 200'));
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    await open.waitFor('the stream to end', () => open.stderr.includes('end'), 5_000);
    expect(agent.stderr).toContain('SIGTERM: stopping');
    expect(agent.stderr).toContain('netpol agent stopped');
  });
});
