// `kubectl netpol audit` across a broken stream, with the real kernel, the real node agent and its
// live judge, and a real API server (test/cluster): the client reads GET /v1/audit through a TCP
// relay standing for the port-forward tunnel (this harness has no kubelet to port-forward to).
// The relay is cut and held down while a connect is dropped by the enforced policy (its SYNs
// blackholed; started before the cut, judged only when it gives up, after it) and another is denied; when the relay is
// back the client reopens the stream with since= and shows both, and the record it had already
// shown once only. Before GET /v1/audit kept and replayed records, both were never shown.
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentUnreachable } from '../../src/cli/shared/agent-client.js';
import { openAuditStream, runAudit, type AuditAgent } from '../../src/cli/commands/audit/index.js';
import { judgeSinkFactory, type AuditRecord } from '../../src/daemon/judge-sink.js';
import { NodeAgent } from '../../src/daemon/node-agent.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { createNamespace, ensureCluster, TestNode, type TestCluster, type TestPod } from './support/cluster.js';
import { destroyAll, nft } from './support/netns.js';

const ALLOWED = '203.0.113.40';
const ANSWERS = '203.0.113.41';
const SILENT = '203.0.113.42';
const NODE = 'replay-node';

async function until<T>(what: string, test: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = test();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One GET, given up after 5 s (an agent that ignored the query would stream forever and hold the agent's close). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let status: number | undefined;
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      status = res.statusCode;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no complete answer in 5 s (status ${status ?? 'none'})`)));
    req.on('error', reject);
  });
}

/** A local port relayed to the agent's API, as a port-forward tunnel is; cut() drops every relayed connection, down refuses new ones. */
class Relay {
  readonly sockets = new Set<net.Socket>();
  down = false;
  private constructor(
    readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: number): Promise<Relay> {
    let relay: Relay | undefined;
    const server = net.createServer((client) => {
      if (relay!.down) {
        client.destroy();
        return;
      }
      const upstream = net.connect(target, '127.0.0.1');
      for (const s of [client, upstream]) {
        relay!.sockets.add(s);
        s.on('close', () => relay!.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new Relay(server, (server.address() as net.AddressInfo).port);
    return relay;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('netpol audit across a broken stream, with the real agent and a real API server', () => {
  let c: TestCluster;
  let node: TestNode;
  let agent: NodeAgent;
  let relay: Relay;
  let ns: string;
  let client: TestPod;

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('needs root (eBPF)');
    ensureBpfBuilt();
    c = await ensureCluster();
    node = await TestNode.create(c, NODE);
    await node.addOutsideHost(ALLOWED, [80]);
    await node.addOutsideHost(ANSWERS, [80]);
    await node.addOutsideHost(SILENT, [80]);
    // SILENT's SYNs vanish: the connect is never answered (the judge says dropped).
    nft(node.router, `table inet netpol_replay {\n chain input {\n  type filter hook input priority 0;\n  ip daddr ${SILENT} tcp dport 80 drop\n }\n}\n`);
    ns = await createNamespace(c, 'replay');
    await c.networking.createNamespacedNetworkPolicy({
      namespace: ns,
      body: { metadata: { name: 'egress-allowed-only' }, spec: { podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: `${ALLOWED}/32` } }], ports: [{ port: 80, protocol: 'TCP' }] }] } },
    });
    agent = new NodeAgent({
      node: NODE,
      kubeconfig: c.kubeconfig,
      api: { host: '127.0.0.1', port: 0 },
      health: { host: '127.0.0.1', port: 0 },
      // Enforced policies only: this test needs no StagedNetworkPolicy CRD.
      sinks: [judgeSinkFactory({ staged: false })],
      // Other test pods on this machine are containers the view never knows: each would hold the
      // connects behind it for 10 s (as bench/connect-storm.ts, hold briefly).
      holdMs: 1000,
      log: () => {},
    });
    await agent.start();
    client = await node.runPod(ns, { name: 'client', labels: { app: 'client' } });
    relay = await Relay.start(agent.apiAddress!.port);
  }, 90_000);

  afterAll(async () => {
    await relay?.close();
    await agent?.stop();
    await node?.destroy();
    destroyAll();
  });

  it('a bad since= is refused with 400 and a clear message', async () => {
    const api = agent.apiAddress!.port;
    const r = await get(api, '/v1/audit?since=yesterday');
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ error: 'since: "yesterday" is not an RFC 3339 time such as 2026-12-07T00:19:49.123Z' });
  });

  it('the records judged while the stream was cut (a dropped one among them) are shown after the reconnect, each once', async () => {
    let out = '';
    let err = '';
    const stop = new AbortController();
    const asked: Array<Date | undefined> = [];
    let opened = 0;
    // As the port-forward dialer does: an agent the command gave up on (its reopenings failed) is
    // found again by rediscovery, and followed again from where its stream broke.
    const dial = async function* (_kc: unknown, signal: AbortSignal): AsyncIterable<AuditAgent> {
      while (!signal.aborted) {
        let given: () => void = () => {};
        const gaveUp = new Promise<void>((resolve) => {
          given = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        opened++;
        yield {
          node: NODE,
          open: (since, sig) => {
            asked.push(since);
            return openAuditStream(relay.port, since, sig, (detail) => new AgentUnreachable(NODE, 'relay', detail));
          },
          close: async () => given(),
        };
        await gaveUp;
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    const records = (): AuditRecord[] =>
      out
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as AuditRecord)
        .filter((r) => r.namespace === ns);
    const running = runAudit(
      { output: 'json', namespace: ns, kubeconfig: c.adminKubeconfig },
      {
        stdout: { write: (s: string) => ((out += s), true) } as NodeJS.WritableStream,
        stderr: { write: (s: string) => ((err += s), true) } as NodeJS.WritableStream,
        signal: stop.signal,
        dial,
      },
    );
    try {
      await until('the stream open', () => (err.includes(`streaming verdicts from the agent on node ${NODE}\n`) ? true : undefined));
      // The policy in the judge's view, the pod too: a connect to ALLOWED is judged without a finding.
      await client.wget(ALLOWED, 80);
      // A connect no one answers starts (its SYNs vanish); it is judged only when it gives up.
      const silent = client.exec([join(node.bin, 'wget'), '-q', '-O', '/dev/null', `http://${SILENT}:80/`]);
      // Its SYN is out before the denied connect starts: the records' start times (millisecond
      // precision) must order them, or the check below on ts would compare equal times (CI, stop 17).
      await until('the SYN to SILENT sent', () => (client.netns.exec(['ss', '-Htn', 'state', 'syn-sent', 'dst', SILENT]).trim() !== '' ? true : undefined));
      await new Promise((r) => setTimeout(r, 5));
      await client.wget(ANSWERS, 80);
      const first = await until('the first denied record', () => records().find((r) => r.dst === `r/${ANSWERS}:80`));
      expect(first).toMatchObject({ verdict: 'denied', policy: `${ns}/egress-allowed-only`, gate: 'egress', outcome: 'established' });
      const counts = (): { denied: number; dropped: number } => {
        const j = agent.status().sinks.judge!;
        return { denied: Number(j.denied), dropped: Number(j.dropped) };
      };
      expect(counts()).toEqual({ denied: 1, dropped: 0 });

      // The tunnel drops and stays down; meanwhile another connect is denied and the silent one
      // gives up (killed: closed unanswered), judged dropped.
      relay.down = true;
      relay.cut();
      await until('the client saw the break', () => (err.includes(`warning: agent on ${NODE}: aborted; reconnecting`) ? true : undefined));
      await client.wget(ANSWERS, 80);
      silent.child.kill('SIGKILL');
      await silent.exited;
      await until('both judged', () => (counts().denied === 2 && counts().dropped === 1 ? true : undefined));
      expect(records()).toHaveLength(1);
      relay.down = false;

      const shown = await until('the gap replayed', () => (records().length >= 3 && err.includes('reconnected') ? records() : undefined), 30_000);
      // Let anything doubled arrive before counting.
      await new Promise((r) => setTimeout(r, 500));
      expect(records().map((r) => [r.verdict, r.dst])).toEqual([
        ['denied', `r/${ANSWERS}:80`],
        ['denied', `r/${ANSWERS}:80`],
        ['dropped', `r/${SILENT}:80`],
      ]);
      expect(shown[1]!.src).not.toBe(first.src);
      expect(shown[2]).toMatchObject({ policy: `${ns}/egress-allowed-only`, gate: 'egress', outcome: 'closed' });
      // The dropped connect started before the last record shown before the break, but was judged
      // after it: a resume by the connects' start time would never have shown it.
      expect(shown[2]!.ts < first.ts).toBe(true);
      expect(shown[2]!.judged! > first.judged!).toBe(true);
      // It asked from the first record's judging time; every reopening asked the same.
      expect(asked[0]).toBeUndefined();
      expect(asked.length).toBeGreaterThan(1);
      expect(asked.slice(1).every((d) => d?.toISOString() === first.judged)).toBe(true);
      expect(err).toMatch(new RegExp(`reconnected to the agent on node ${NODE}: replayed 2 record\\(s\\) judged since ${first.judged!.replace(/\./g, '\\.')}\\n`));
      expect(err).not.toMatch(/may be missing|does not replay/);
    } catch (e) {
      // What the command said, for the failure's reader.
      throw new Error(`${(e as Error).message}\nstderr:\n${err}\nstdout:\n${out}`);
    } finally {
      stop.abort();
      expect(await running).toBe(0);
    }
  }, 120_000);
});
