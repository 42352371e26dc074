/**
 * Drives the live learn screen in a real terminal for test/e2e/learn-screen-tmux.test.ts: listens
 * on loopback addresses that the cluster snapshot gives to pods and feeds runLearnScreen the
 * connections made to them. q writes the policies to --out.
 *
 *   [NETPOL_DRIVER_SOURCE=accept|ebpf] vite-node learn-screen-driver.tsx -- CLUSTER.yaml OUT_DIR PORTS.json
 *
 * - accept (default, no privileges): every accepted connection becomes a flow record with the real
 *   client and server addresses and ports — what the agent reports for that connect.
 * - ebpf (root, built bpf/): the real tcpconnect agent observes the connects (host processes,
 *   these listeners' ports only) and its records feed the screen, lost-event counter included.
 *
 * PORTS.json gets {"<ip>": port, ...} once every listener is up and observation has started.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { SnapshotView } from '../../../src/cluster/snapshot.js';
import { PushLearnSource, runLearnScreen } from '../../../src/cli/views/learn-screen.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
const [cluster, out, portsFile] = args;
if (!cluster || !out || !portsFile) {
  process.stderr.write('usage: learn-screen-driver CLUSTER OUT PORTS\n');
  process.exit(2);
}
const listenOn = (process.env.LISTEN ?? '127.0.0.20,127.0.0.30,127.0.0.99').split(',');
const mode = process.env.NETPOL_DRIVER_SOURCE ?? 'accept';

const source = new PushLearnSource();
const servers: Server[] = [];
const ports: Record<string, number> = {};
for (const ip of listenOn) {
  const server = createServer((sock) => {
    if (mode === 'ebpf') {
      sock.end();
      return;
    }
    source.push({
      v: 1,
      ts: new Date().toISOString(),
      proto: 'TCP',
      src: { ip: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 },
      dst: { ip: sock.localAddress ?? ip, port: sock.localPort ?? 0 },
      outcome: 'established',
    });
    sock.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, ip, () => resolve());
  });
  const addr = server.address();
  if (addr && typeof addr === 'object') ports[ip] = addr.port;
  servers.push(server);
}
let stopAgent: (() => Promise<unknown>) | undefined;
if (mode === 'ebpf') {
  const { LocalAgent } = await import('../../../src/agent/agent.js');
  const { flowFromEvent } = await import('../../../src/cli/commands/learn/local.js');
  const agent = await LocalAgent.start(
    { host: true, dports: Object.values(ports), onLost: (n) => source.addLost(n) },
    (e) => source.push(flowFromEvent(e, hostname(), new Map(), true)),
  );
  stopAgent = () => agent.stop();
}
writeFileSync(portsFile, JSON.stringify(ports));

const view = new SnapshotView([cluster]);
const result = await runLearnScreen(source, {
  mode: mode === 'ebpf' ? 'eBPF tcpconnect, host processes' : 'e2e loopback',
  selector: `listening on ${listenOn.join(', ')}`,
  index: () => view.index(),
  synthesis: { dns: false },
  out,
  previewEveryMs: 200,
});
await stopAgent?.();
for (const s of servers) s.close();
process.stdout.write(`\ndriver done: reason=${result.reason} flows=${result.flows} written=${result.written?.files.filter((f) => f.status === 'written').length ?? 0}\n`);
process.exit(0);
