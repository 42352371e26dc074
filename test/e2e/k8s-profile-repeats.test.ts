// The profile sink's repeats (connects the kernel counted on an allowed edge, src/daemon/kernel-dedup.ts)
// against a real API server: each batch's journal aggregate starts where the batch before ended,
// not at the representative connect's time (which may be hours old).
import { randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PodConnect } from '../../src/cluster/cluster-agent.js';
import { LiveClusterView } from '../../src/cluster/live.js';
import { createProfileSinkFactory } from '../../src/daemon/profile-sink.js';
import { until } from '../support/until.js';
import { createNamespace, createRunningPod, ensureCluster } from './support/cluster.js';
import { installCrds } from './support/crds.js';


describe('profile sink repeats', () => {
  it("a batch of repeats starts at the previous batch's last seen", async () => {
    const c = await ensureCluster();
    await installCrds(c, ['trafficprofiles']);
    const ns = await createNamespace(c, 'prep');
    const pod = await createRunningPod(c, ns, { name: 'client', labels: { app: 'client' }, nodeName: 'n1' }, { ips: [`10.248.${randomInt(1, 250)}.${randomInt(1, 250)}`] });
    const view = await LiveClusterView.connect({ kubeconfig: c.adminKubeconfig });
    const dir = mkdtempSync(join(tmpdir(), 'prep-journal-'));
    const sink = await createProfileSinkFactory({ journalDir: dir })({ node: 'n1', view });
    try {
      await until('the pod in the view', () => view.freshIndex().pod(ns, 'client') !== undefined);
      const representative: PodConnect = {
        event: {} as PodConnect['event'],
        time: new Date('2026-12-07T01:00:00.000Z'),
        node: 'n1',
        source: { pod, namespace: ns, name: 'client' },
        record: { v: 1, proto: 'TCP', node: 'n1', src: { ip: pod.status!.podIP!, port: 40000, namespace: ns, pod: 'client' }, dst: { ip: '198.51.100.9', port: 443 }, outcome: 'established' },
      };
      sink.acceptRepeats!(representative, 3, new Date('2026-12-07T04:00:01.000Z'));
      sink.acceptRepeats!(representative, 2, new Date('2026-12-07T04:00:02.000Z'));
      sink.sync!();
      const lines = readdirSync(dir)
        .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { n?: number; f?: string; l?: string })
        .filter((l) => l.n !== undefined);
      expect(lines.map((l) => [l.n, l.f, l.l])).toEqual([
        [3, '2026-12-07T01:00:00.000Z', '2026-12-07T04:00:01.000Z'],
        [2, '2026-12-07T04:00:01.000Z', '2026-12-07T04:00:02.000Z'],
      ]);
    } finally {
      await sink.close(new Date(Date.now() + 1000));
      await view.close();
    }
  });
});
