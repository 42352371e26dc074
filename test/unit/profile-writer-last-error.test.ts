/**
 * The profile writer's lastError after a failed write and a later success: a write the API server
 * answered 429 (Priority and Fairness rejecting under load), then writes that succeed. The status
 * must not keep showing the 429 — it did, before the fix, for as long as the agent ran. The API
 * server here is a loopback HTTP stand-in answering the three requests the writer makes (list,
 * apply, apply status) — what is under test is the writer's bookkeeping, not the API server.
 */
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkloadIdentity } from '../../src/cluster/profile/types.js';
import { ProfileWriter } from '../../src/cluster/profile/writer.js';

describe('profile writer lastError', () => {
  let server: http.Server;
  let port = 0;
  let refuseNext = 0;
  const seen: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(`${req.method} ${req.url}`);
        res.setHeader('Content-Type', 'application/json');
        if (req.method === 'GET') return void res.end(JSON.stringify({ kind: 'TrafficProfileList', items: [] }));
        if (refuseNext > 0) {
          refuseNext--;
          res.statusCode = 429;
          res.setHeader('Retry-After', '1');
          return void res.end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'too many requests, please try again later', reason: 'TooManyRequests', code: 429 }));
        }
        res.end(JSON.stringify({ kind: 'TrafficProfile' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('clears a failed write\'s error (429) once a write succeeds; keeps it while writes fail', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const w = await ProfileWriter.start({ kc, node: 'n1', journalDir: mkdtempSync(join(tmpdir(), 'tp-429-')), flushIntervalMs: 0, gcIntervalMs: 0 });
    const owner: WorkloadIdentity = { namespace: 'a', kind: 'Deployment', name: 'x', selector: { matchLabels: { app: 'x' } }, labels: { app: 'x' } };
    w.accept({ owner, edges: [{ peer: { address: '203.0.113.10' }, port: 80, protocol: 'TCP', outcome: 'established' }], time: new Date().toISOString() });
    refuseNext = 1;
    await expect(w.flush()).rejects.toThrow(/too many requests/);
    expect(String(w.status().lastError)).toMatch(/too many requests/);
    expect(w.readiness().ready).toBe(false);
    await w.flush({ all: true }); // past the backoff: the write goes through
    expect(w.status()).toMatchObject({ written: 1, retried: 1, backlog: 0 });
    expect(w.status().lastError).toBeUndefined();
    expect(w.readiness().ready).toBe(true);
    expect(seen.filter((l) => l.startsWith('PATCH')).length).toBeGreaterThanOrEqual(3);
    await w.close(new Date());
  });
});
