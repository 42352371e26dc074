// The live judge as a node agent runs it, for node e2e suites, until the daemon's `netpol agent`
// serves it: the eBPF ClusterAgent (every pod of this node) feeding a JudgeSink, on the node's side
// (spawned with RealNode.spawnOnNode). Prints every audit record as one JSON line on stdout, and on
// a line "metrics" on stdin one line {"metrics":[…]}; "ready" on stderr once attached. SIGTERM: the
// sink is closed (evidence and Events flushed) and the process exits 0.
//   node test/e2e/support/judge-runner.mjs KUBECONFIG NODE
import { createInterface } from 'node:readline';

const [kubeconfig, node] = process.argv.slice(2);
const dist = new URL('../../../dist/', import.meta.url);
const { LiveClusterView } = await import(new URL('cluster/live.js', dist).href);
const { ClusterAgent } = await import(new URL('cluster/cluster-agent.js', dist).href);
const { JudgeSink } = await import(new URL('daemon/judge-sink.js', dist).href);

const view = await LiveClusterView.connect({ kubeconfig });
const sink = await JudgeSink.start({ node, view }, { statusFlushMs: 1000, eventFlushMs: 500 });
sink.subscribe((r) => process.stdout.write(JSON.stringify(r) + '\n'));
const agent = await ClusterAgent.start({ view, node, filter: () => true }, (c) => sink.accept(c));
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'metrics') process.stdout.write(JSON.stringify({ metrics: sink.metrics(), status: sink.status() }) + '\n');
});
process.stderr.write('ready\n');
process.once('SIGTERM', async () => {
  await agent.stop();
  await sink.close(new Date(Date.now() + 5000));
  await view.close();
  process.exit(0);
});
