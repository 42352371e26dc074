#!/usr/bin/env node
// Scale of the cluster-wide traffic profile (issue 12): simulated agents — the real profile writer
// from dist/ (journal, batching, server-side apply), one per simulated node, in this process —
// against a real etcd + kube-apiserver (test/cluster/start.sh, started here in a directory of its
// own, stopped at the end).
//
//   npm run build && node bench/profile-scale.mjs [--nodes 1000] [--workloads 10000] [--steady 60]
//                                                  [--refresh-ms 0] [--flush-ms 10000]
//
// Measured: writes/s to the API server (its own apiserver_request_total for trafficprofiles)
// while learning (every edge new) and in steady state (counts only), API server CPU (utime+stime
// from /proc/<pid>/stat), etcd's database size, and `netpol learn -A --source profiles` time.
// --refresh-ms 0 is the worst case of the steady-state bound (every node writes one count-only
// refresh per flush interval); the agent's default (5 min) writes far less.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, existsSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { ProfileWriter } from '../dist/cluster/profile/writer.js';
import { rawRequest } from '../dist/cluster/live.js';
import { profileSummary } from '../dist/cluster/profile/summary.js';
import { installProfileCrd } from './profile-shape.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: a } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    workloads: { type: 'string', default: '10000' },
    namespaces: { type: 'string', default: '100' },
    steady: { type: 'string', default: '60' },
    'refresh-ms': { type: 'string', default: '0' },
    'flush-ms': { type: 'string', default: '10000' },
    'edges-per-workload': { type: 'string', default: '5' },
  },
});
const NODES = Number(a.nodes);
const WORKLOADS = Number(a.workloads);
const NAMESPACES = Number(a.namespaces);
const STEADY_S = Number(a.steady);
const FLUSH_MS = Number(a['flush-ms']);
const EDGES = Number(a['edges-per-workload']);

const dir = mkdtempSync(join(tmpdir(), 'netpol-profile-scale-'));
const log = (m) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);
log(`starting etcd + kube-apiserver in ${dir}`);
execFileSync('bash', [join(ROOT, 'test/cluster/start.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
const kc = new KubeConfig();
kc.loadFromFile(join(dir, 'admin.kubeconfig'));
const server = kc.getCurrentCluster().server;
const apiPid = Number(readFileSync(join(dir, 'apiserver.pid'), 'utf8'));
const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}
function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}
function etcdBytes() {
  const db = join(dir, 'etcd', 'member', 'snap', 'db');
  return existsSync(db) ? statSync(db).size : NaN;
}
async function serverWrites() {
  const opts = { method: 'GET' };
  await kc.applyToHTTPSOptions(opts);
  const text = await new Promise((res, rej) => {
    https.get(new URL(server + '/metrics'), opts, (r) => {
      let b = '';
      r.on('data', (d) => (b += d));
      r.on('end', () => res(b));
    }).on('error', rej);
  });
  let writes = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{') || !line.includes('resource="trafficprofiles"')) continue;
    if (/verb="(APPLY|PATCH|CREATE|UPDATE|DELETE)"/.test(line)) writes += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return writes;
}

let exitCode = 0;
try {
  await installProfileCrd(kc);
  for (let n = 0; n < NAMESPACES; n++) await rawRequest(kc, '/api/v1/namespaces', { method: 'POST', body: { metadata: { name: `bench-${n}` } } });

  // Placement: workload w runs on node w % NODES; every fifth also on the next node (two replicas).
  const owners = [];
  for (let w = 0; w < WORKLOADS; w++) {
    const name = `w-${w}`;
    owners.push({ namespace: `bench-${w % NAMESPACES}`, kind: 'Deployment', name, selector: { matchLabels: { app: name } }, labels: { app: name } });
  }
  const sharesOf = Array.from({ length: NODES }, () => []);
  for (let w = 0; w < WORKLOADS; w++) {
    sharesOf[w % NODES].push(w);
    if (w % 5 === 0) sharesOf[(w + 1) % NODES].push(w);
  }
  const edgesOf = (w) =>
    Array.from({ length: EDGES }, (_, i) =>
      i < EDGES - 2
        ? { peer: { workload: owners[(w + i + 1) % WORKLOADS] }, port: 8080 + i, protocol: 'TCP', outcome: 'established' }
        : { peer: { address: `203.0.113.${(w + i) % 250}` }, port: 443, protocol: 'TCP', outcome: 'established' },
    );

  const journals = mkdtempSync(join(tmpdir(), 'netpol-profile-journals-'));
  const cpu0 = cpuSeconds(apiPid);
  const writes0 = await serverWrites();
  const t0 = Date.now();
  log(`starting ${NODES} writers (flush every ${FLUSH_MS} ms, staggered), ${WORKLOADS} workloads, ${sharesOf.flat().length} profile objects`);
  const writers = [];
  for (let n = 0; n < NODES; n++) {
    writers.push(
      await ProfileWriter.start({ kc, node: `node-${n}`, journalDir: join(journals, `node-${n}`), flushIntervalMs: FLUSH_MS, refreshMs: Number(a['refresh-ms']) }),
    );
    const now = new Date().toISOString();
    // Learning: every edge of every workload on this node is new.
    for (const w of sharesOf[n]) for (let k = 0; k < 3; k++) writers[n].accept({ owner: owners[w], edges: edgesOf(w), time: now });
    // Spread the nodes' flush timers over one interval, as agents started at different times are.
    await new Promise((r) => setTimeout(r, FLUSH_MS / NODES));
  }
  const backlog = () => writers.reduce((s, w) => s + w.status().backlog, 0);
  for (let i = 0; backlog() > 0; i++) {
    if (i % 10 === 0) log(`learning: backlog ${backlog()} edges, ${writers.reduce((s, w) => s + w.status().written, 0)} objects written, ${writers.reduce((s, w) => s + w.status().retried, 0)} failed writes`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const learnS = (Date.now() - t0) / 1000;
  const learnWrites = (await serverWrites()) - writes0;
  const learnCpu = cpuSeconds(apiPid) - cpu0;
  log(`learning: ${learnWrites} writes in ${learnS.toFixed(1)} s`);

  // Steady state: only counts change (each node: every one of its workloads connects each second).
  const cpu1 = cpuSeconds(apiPid);
  const writes1 = await serverWrites();
  const t1 = Date.now();
  let connects = 0;
  const clientCpu0 = process.cpuUsage();
  while (Date.now() - t1 < STEADY_S * 1000) {
    const now = new Date().toISOString();
    for (let n = 0; n < NODES; n++) for (const w of sharesOf[n]) { writers[n].accept({ owner: owners[w], edges: edgesOf(w).slice(0, 1), time: now }); connects++; }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const steadyS = (Date.now() - t1) / 1000;
  const steadyWrites = (await serverWrites()) - writes1;
  const steadyCpu = cpuSeconds(apiPid) - cpu1;
  const clientCpu = process.cpuUsage(clientCpu0);
  const lost = writers.reduce((s, w) => s + w.status().lost, 0);
  log(`steady: ${steadyWrites} writes in ${steadyS.toFixed(1)} s, ${connects} connects`);
  for (const w of writers) await w.close(new Date(Date.now() + 30_000));

  const summary = await profileSummary(kc);
  const out = mkdtempSync(join(tmpdir(), 'netpol-profile-learn-'));
  const l0 = Date.now();
  const learn = spawnSync(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'learn', '-A', '--source', 'profiles', '--kubeconfig', join(dir, 'admin.kubeconfig'), '--out', out], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const learnAllS = (Date.now() - l0) / 1000;
  if (learn.status !== 0) throw new Error(`learn -A failed (${learn.status}): ${learn.stderr.slice(-2000)}`);
  const policies = /learned (\d+) polic/.exec(learn.stderr)?.[1];
  const result = {
    nodes: NODES,
    workloads: WORKLOADS,
    profileObjects: summary.count,
    edges: summary.edges,
    profileBytes: summary.bytes,
    learning: { seconds: +learnS.toFixed(1), writes: learnWrites, writesPerSecond: +(learnWrites / learnS).toFixed(1), apiserverCpuPercent: +((100 * learnCpu) / learnS).toFixed(1) },
    steady: {
      seconds: +steadyS.toFixed(1),
      connects,
      writes: steadyWrites,
      writesPerSecond: +(steadyWrites / steadyS).toFixed(2),
      writesPerNodePer10s: +((steadyWrites / steadyS / NODES) * 10).toFixed(3),
      apiserverCpuPercent: +((100 * steadyCpu) / steadyS).toFixed(1),
      writerCpuMicrosPerConnect: +((clientCpu.user + clientCpu.system) / connects).toFixed(1),
    },
    lost,
    etcdDbBytes: etcdBytes(),
    apiserverRssMiB: +rssMiB(apiPid).toFixed(0),
    learnAll: { seconds: +learnAllS.toFixed(2), policies: Number(policies) },
    refreshMs: Number(a['refresh-ms']),
    flushMs: FLUSH_MS,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  rmSync(journals, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
} catch (err) {
  process.stderr.write(`${err.stack ?? err}\n`);
  exitCode = 1;
} finally {
  execFileSync('bash', [join(ROOT, 'test/cluster/stop.sh'), dir], { stdio: 'inherit' });
}
process.exit(exitCode);
