#!/usr/bin/env node
// `learn -A --source profiles` in process, stage by stage, on the shape of bench/profile-scale.mjs
// (bench/profile-shape.mjs), without the API server: where the time of learning from profiles goes.
//
//   npm run build && node [--cpu-prof] [--trace-gc] bench/learn-profiles-inproc.mjs [--workloads 10000] [--out DIR]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildIndex } from '../dist/cluster/lookup.js';
import { emptyClusterObjects } from '../dist/cluster/objects.js';
import { mergeProfiles } from '../dist/cluster/profile/merge.js';
import { learnFromResolved } from '../dist/policy/learn.js';
import { profileLearnEdges } from '../dist/policy/profile-edges.js';
import { writePolicyTree } from '../dist/policy/write.js';
import { synthesisOptions } from '../dist/cli/shared/synthesis-flags.js';
import { profileObjects } from './profile-shape.mjs';

const { values: a } = parseArgs({ options: { workloads: { type: 'string', default: '10000' }, nodes: { type: 'string', default: '1000' }, out: { type: 'string' } } });
const { objects, namespaceNames } = profileObjects({ workloads: Number(a.workloads), nodes: Number(a.nodes) });
// What the API server returns: JSON text, parsed (the objects must not share peers by reference).
const text = JSON.stringify({ items: objects });
const times = {};
let t = performance.now();
const lap = (name) => {
  const now = performance.now();
  times[name] = +(now - t).toFixed(0);
  t = now;
};
const items = JSON.parse(text).items;
lap('parse');
const merged = mergeProfiles(items);
lap('merge');
const cluster = emptyClusterObjects();
cluster.namespaces = namespaceNames.map((name) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } } }));
const index = buildIndex(cluster);
const pe = profileLearnEdges(merged, index, {});
lap('edges');
const outcome = learnFromResolved(pe.edges, pe.connects, pe.unanswered, index, synthesisOptions({ dns: true, ingress: 'observed' }));
lap('synthesize');
const root = a.out ?? mkdtempSync(join(tmpdir(), 'netpol-inproc-'));
const written = await writePolicyTree(join(root, 'policies'), outcome.result);
lap('write');
if (!a.out) rmSync(root, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ policies: outcome.result.policies.length, files: written.files.length, warnings: outcome.result.warnings.length, ms: times, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) }) + '\n');
