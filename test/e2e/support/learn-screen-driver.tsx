/**
 * Drives the live learn screen in a real terminal for test/e2e/learn-screen-tmux.test.ts: listens
 * on loopback addresses that the cluster snapshot gives to pods, turns every connection it accepts
 * into a flow record (the real client and server addresses and ports — what the agent would
 * report for that connect) and feeds them to runLearnScreen. q writes the policies to --out.
 *
 *   vite-node learn-screen-driver.tsx -- CLUSTER.yaml OUT_DIR PORTS.json
 *
 * PORTS.json gets {"<ip>": port, ...} once every listener is up.
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { SnapshotView } from '../../../src/cluster/snapshot.js';
import { PushLearnSource, runLearnScreen } from '../../../src/cli/views/learn-screen.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
const [cluster, out, portsFile] = args;
if (!cluster || !out || !portsFile) {
  process.stderr.write('usage: learn-screen-driver CLUSTER OUT PORTS\n');
  process.exit(2);
}
const listenOn = (process.env.LISTEN ?? '127.0.0.20,127.0.0.30,127.0.0.99').split(',');

const source = new PushLearnSource();
const servers: Server[] = [];
const ports: Record<string, number> = {};
for (const ip of listenOn) {
  const server = createServer((sock) => {
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
writeFileSync(portsFile, JSON.stringify(ports));

const view = new SnapshotView([cluster]);
const result = await runLearnScreen(source, {
  mode: 'e2e loopback',
  selector: `listening on ${listenOn.join(', ')}`,
  index: () => view.index(),
  synthesis: { dns: false },
  out,
  previewEveryMs: 200,
});
for (const s of servers) s.close();
process.stdout.write(`\ndriver done: reason=${result.reason} flows=${result.flows} written=${result.written?.files.filter((f) => f.status === 'written').length ?? 0}\n`);
process.exit(0);
