#!/usr/bin/env node
// `netpol learn -A --source profiles` at the scale of issue 12 (10,000 workloads, 12,000
// TrafficProfiles, the shape of bench/profile-scale.mjs, bench/profile-shape.mjs), against a real
// etcd + kube-apiserver, without simulating the agents that wrote them: the objects are created
// directly (what the writers would have written), so the learn figure can be taken many times.
//
//   npm run build
//   node bench/learn-profiles-scale.mjs populate DIR      # starts the test cluster in DIR, creates the objects
//   node bench/learn-profiles-scale.mjs learn DIR [--runs 3] [--dist dist --dist /tmp/old/dist ...]
//                                                          # times learn -A --out, builds alternating;
//                                                          # prints wall and CPU (netpol user/sys, API server)
//   node bench/learn-profiles-scale.mjs list DIR [--runs 3]  # the listing alone, alternating pages of 500
//                                                          # and one request: wall, CPU, etcd list requests
//   bash test/cluster/stop.sh DIR
import { execFileSync, spawnSync } from 'node:child_process';
import https from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { rawRequest } from '../dist/cluster/live.js';
import { installProfileCrd, profileObjects } from './profile-shape.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    nodes: { type: 'string', default: '1000' },
    workloads: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    dist: { type: 'string', multiple: true },
    concurrency: { type: 'string', default: '16' },
  },
});
const [mode, dir] = positionals;
if (!dir || (mode !== 'populate' && mode !== 'learn' && mode !== 'list')) {
  process.stderr.write('usage: learn-profiles-scale.mjs populate|learn|list DIR [--runs N] [--dist DIST]...\n');
  process.exit(2);
}
const log = (m) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`);
const kubeconfig = join(dir, 'admin.kubeconfig');

if (mode === 'populate') {
  execFileSync('bash', [join(ROOT, 'test/cluster/start.sh'), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  await installProfileCrd(kc);
  const { objects, namespaceNames } = profileObjects({ nodes: Number(a.nodes), workloads: Number(a.workloads) });
  for (const ns of namespaceNames) await rawRequest(kc, '/api/v1/namespaces', { method: 'POST', body: { metadata: { name: ns } } });
  log(`creating ${objects.length} TrafficProfiles`);
  let next = 0;
  const t0 = Date.now();
  const worker = async () => {
    while (next < objects.length) {
      const o = objects[next++];
      const path = `/apis/netpol.io/v1alpha1/namespaces/${o.metadata.namespace}/trafficprofiles/${o.metadata.name}`;
      const q = `?fieldManager=netpol-agent-${o.spec.node}&force=true`;
      const req = { method: 'PATCH', contentType: 'application/apply-patch+yaml', timeoutMs: 60_000 };
      await rawRequest(kc, path + q, { ...req, body: { apiVersion: o.apiVersion, kind: o.kind, metadata: o.metadata, spec: o.spec } });
      await rawRequest(kc, path + '/status' + q, { ...req, body: { apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace }, status: o.status } });
      if (next % 2000 === 0) log(`${next} objects`);
    }
  };
  await Promise.all(Array.from({ length: Number(a.concurrency) }, worker));
  log(`created ${objects.length} objects in ${((Date.now() - t0) / 1000).toFixed(1)} s; KUBECONFIG=${kubeconfig}`);
} else if (mode === 'list') {
  // listProfiles of this build, in pages of 500 (what learn did before) and in one request (what
  // it does now), alternating; the API server's CPU and its etcd list requests (its /metrics).
  const { listProfiles } = await import('../dist/cluster/profile/client.js');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
  const apiPid = Number(readFileSync(join(dir, 'apiserver.pid'), 'utf8'));
  const apiCpu = () => readFileSync(`/proc/${apiPid}/stat`, 'utf8').split(') ')[1].split(' ').slice(11, 13).reduce((x, y) => x + Number(y), 0) / TICK;
  const etcdLists = async () => {
    const opts = { method: 'GET', headers: {} };
    await kc.applyToHTTPSOptions(opts);
    const text = await new Promise((res, rej) => https.get(new URL(kc.getCurrentCluster().server + '/metrics'), opts, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => res(b)); }).on('error', rej));
    const line = text.split('\n').find((l) => l.startsWith('etcd_requests_total{') && l.includes('operation="list"') && l.includes('resource="trafficprofiles"'));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  const rows = [];
  for (let r = 0; r < Number(a.runs); r++) {
    for (const pageSize of r % 2 === 0 ? [500, 0] : [0, 500]) {
      const e0 = await etcdLists();
      const a0 = apiCpu();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const items = await listProfiles(kc, { pageSize, timeoutMs: 120_000 });
      const row = {
        pageSize,
        objects: items.length,
        seconds: +((performance.now() - t0) / 1000).toFixed(2),
        clientCpu: +((process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6).toFixed(2),
        apiserverCpu: +(apiCpu() - a0).toFixed(2),
        etcdLists: (await etcdLists()) - e0,
      };
      rows.push(row);
      log(`${JSON.stringify(row)} load ${loadavg()[0].toFixed(1)}`);
    }
  }
  process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
} else {
  const dists = (a.dist ?? ['dist']).map((d) => resolve(d));
  const results = dists.map(() => []);
  const cpu = dists.map(() => []);
  // CPU seconds from /proc: this process's waited-for children (utime+stime of the learn just
  // run: cutime, cstime) and the API server's own. Wall time on a shared 2-core machine follows
  // the other jobs' load; the CPU is what the command costs.
  const TICK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
  const stat = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ').map(Number);
  const apiPid = Number(readFileSync(join(dir, 'apiserver.pid'), 'utf8'));
  // Every run's tree is kept until all runs are done. This VM's ext4 has no journal, and ext4
  // without a journal skips, for every file it creates, each inode of the group freed in the last
  // minute or so (recently_deleted() in fs/ext4/ialloc.c): removing a run's 10,001 files could
  // make the next run's file creation 2-3 s of kernel CPU instead of ≈ 0.5 s, whichever build it
  // was (bench/file-create-cost.mjs).
  const outs = [];
  for (let r = 0; r < Number(a.runs); r++) {
    // Alternating A B, then B A, so drift in the machine's load falls on both builds alike.
    const order = r % 2 === 0 ? dists.map((_, i) => i) : dists.map((_, i) => dists.length - 1 - i);
    for (const i of order) {
      const out = mkdtempSync(join(tmpdir(), 'netpol-learn-all-'));
      outs.push(out);
      const self0 = stat('self');
      const api0 = stat(apiPid);
      const t0 = process.hrtime.bigint();
      const p = spawnSync(process.execPath, [join(dists[i], 'cli/main.js'), 'learn', '-A', '--source', 'profiles', '--kubeconfig', kubeconfig, '--out', join(out, 'policies')], {
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      });
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      const self1 = stat('self');
      const api1 = stat(apiPid);
      if (p.status !== 0) throw new Error(`learn -A (${dists[i]}) failed (${p.status}): ${p.stderr.slice(-2000)}`);
      const policies = /learned (\d+) polic/.exec(p.stderr)?.[1];
      // stat fields after "pid (comm) ": utime 11, stime 12, cutime 13, cstime 14.
      const c = {
        user: +((self1[13] - self0[13]) / TICK).toFixed(2),
        sys: +((self1[14] - self0[14]) / TICK).toFixed(2),
        apiserver: +((api1[11] + api1[12] - api0[11] - api0[12]) / TICK).toFixed(2),
      };
      results[i].push(+s.toFixed(2));
      cpu[i].push(c);
      log(`${dists[i]}: ${s.toFixed(2)} s, ${policies} policies; CPU netpol user ${c.user} s sys ${c.sys} s, API server ${c.apiserver} s; load ${loadavg()[0].toFixed(1)}`);
    }
  }
  for (const out of outs) rmSync(out, { recursive: true, force: true });
  process.stdout.write(JSON.stringify(dists.map((d, i) => ({ dist: d, seconds: results[i], cpu: cpu[i] })), null, 2) + '\n');
}
