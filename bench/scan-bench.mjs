// The flow scanner alone (src/flows/line-scan.ts, built in dist/): FlowLineScanner.scan over 300,000
// benchmark lines and 100,000 agent lines, best of 15 passes, wall and CPU time (on a shared machine
// CPU time is the figure to compare). For A/B runs of two builds, interleaved:
//   node bench/scan-bench.mjs [root with dist/ and bench/, default this checkout]
import { fileURLToPath } from 'node:url';

const root = process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url));
const { FlowLineScanner } = await import(`${root}/dist/flows/line-scan.js`);
const { makeCluster, makeFlows } = await import(`${root}/bench/synthetic.mjs`);
const { deployments } = makeCluster({ pods: 10_000 });
const lines = [];
for (const f of makeFlows(deployments, 300_000)) lines.push(JSON.stringify(f));
const AGENT =
  '{"v":1,"id":"seed-1","ts":"2026-11-24T10:00:00.123Z","node":"minikube-docker","proto":"TCP","src":{"ip":"10.244.0.12","namespace":"default","pod":"mypod","container":"mypod","pid":2011630,"comm":"wget","port":46779},"dst":{"ip":"1.1.1.1","port":80,"namespace":null,"pod":null,"service":null},"latencyNs":14149828,"outcome":"established"}';
for (let i = 0; i < 100_000; i++) lines.push(AGENT);
const buf = Buffer.from(lines.join('\n') + '\n');
const ends = [];
for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) ends.push(i);
const scanner = new FlowLineScanner();
let bestMs = Infinity;
let bestCpuMs = Infinity;
let accepted = 0;
for (let pass = 0; pass < 15; pass++) {
  const t = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let start = 0;
  accepted = 0;
  for (const end of ends) {
    if (scanner.scan(buf, start, end)) accepted++;
    start = end + 1;
  }
  bestMs = Math.min(bestMs, Number(process.hrtime.bigint() - t) / 1e6);
  const cpu = process.cpuUsage(cpu0);
  bestCpuMs = Math.min(bestCpuMs, (cpu.user + cpu.system) / 1e3);
}
// Every line is valid: a scanner that refused some would be measuring the wrong thing.
if (accepted !== ends.length) throw new Error(`the scanner accepted ${accepted} of ${ends.length} lines`);
console.log(JSON.stringify({ bench: 'scan', root, lines: ends.length, bestMs: +bestMs.toFixed(1), bestCpuMs: +bestCpuMs.toFixed(1), cpuNsPerLine: +((bestCpuMs * 1e6) / ends.length).toFixed(1) }));
