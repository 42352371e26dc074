// A profile writer in a process of its own, for the SIGKILL test (test/e2e/k8s-profiles.test.ts):
// the real writer from dist/, a journal directory, observations read as one JSON array from
// argv[4]. It accepts the first half, writes it to the API server, accepts the rest, says
// "accepted <n>" once they are journaled (synchronously, so the parent never kills it before the line is out) and waits
// to be killed: the second half is only in its journal.
import { readFileSync, writeSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ProfileWriter } from '../../../dist/cluster/profile/writer.js';

const [kubeconfig, journalDir, observationsFile, node] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const observations = JSON.parse(readFileSync(observationsFile, 'utf8'));
const writer = await ProfileWriter.start({ kc, node, journalDir, flushIntervalMs: 0 });
const half = Math.floor(observations.length / 2);
for (const o of observations.slice(0, half)) writer.accept(o);
await writer.flush({ all: true });
for (const o of observations.slice(half)) writer.accept(o);
// The journal is written per batch; the agent syncs before the kernel ring frees a batch's records.
writer.syncJournal();
writeSync(1, `accepted ${observations.length} written ${writer.status().written}\n`);
setInterval(() => {}, 1000);
