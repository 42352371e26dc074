// Learning benchmark: `netpol learn` (the real CLI, built in dist/) on 1,000,000 flows over 10,000
// pods. Prints wall time, flows/s, the child's CPU time (user + system: on a shared machine the figure
// that follows the code rather than the load) and its peak RSS. Usage: node bench/learn-bench.mjs [flows] [pods]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { machine, makeCluster, makeFlows } from './synthetic.mjs';

const flowCount = Number(process.argv[2] ?? 1_000_000);
const podCount = Number(process.argv[3] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'netpol-bench-'));
try {
  const { list, deployments } = makeCluster({ pods: podCount });
  writeFileSync(join(dir, 'cluster.yaml'), stringify(list));
  const fd = openSync(join(dir, 'flows.jsonl'), 'w');
  let buf = [];
  for (const f of makeFlows(deployments, flowCount)) {
    buf.push(JSON.stringify(f));
    if (buf.length === 10_000) { writeSync(fd, buf.join('\n') + '\n'); buf = []; }
  }
  if (buf.length) writeSync(fd, buf.join('\n') + '\n');
  closeSync(fd);
  const size = statSync(join(dir, 'flows.jsonl')).size;
  const cli = new URL('../dist/cli/main.js', import.meta.url).pathname;
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    // /usr/bin/time is not on every machine: the child reports its own peak RSS on exit.
    const res = spawnSync(process.execPath, ['--import', new URL('./peak-rss.mjs', import.meta.url).href, '--import', new URL('./cpu-time.mjs', import.meta.url).href, cli, 'learn',
      '--flows', join(dir, 'flows.jsonl'), '--cluster', join(dir, 'cluster.yaml'), '--out', join(dir, `out${i}`)], { encoding: 'utf8' });
    const secs = Number(process.hrtime.bigint() - t) / 1e9;
    if (res.status !== 0) throw new Error(`learn failed (${res.status}): ${res.stderr}`);
    const rss = Number(/peak-rss-bytes=(\d+)/.exec(res.stderr)?.[1] ?? NaN);
    const cpu = Number(/cpu-microseconds=(\d+)/.exec(res.stderr)?.[1] ?? NaN) / 1e6;
    runs.push({ secs, rss, cpu });
    console.error(res.stderr.split('\n').find((l) => l.startsWith('learned')));
  }
  const best = runs.reduce((a, b) => (b.secs < a.secs ? b : a));
  console.log(JSON.stringify({
    bench: 'learn', flows: flowCount, pods: podCount, inputMiB: +(size / 2 ** 20).toFixed(1),
    seconds: runs.map((r) => +r.secs.toFixed(3)), bestSeconds: +best.secs.toFixed(3),
    flowsPerSecond: Math.round(flowCount / best.secs),
    cpuSeconds: runs.map((r) => +r.cpu.toFixed(3)), bestCpuSeconds: Math.min(...runs.map((r) => +r.cpu.toFixed(3))), peakRssMiB: Math.max(...runs.map((r) => Math.round(r.rss / 2 ** 20))),
    machine: await machine(),
  }, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
