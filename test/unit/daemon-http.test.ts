// The agent's HTTP listeners on real sockets (port 0), without a kernel: routes, refusals, the
// stream opening before the first connect, readiness 503 with reasons; and status's agents table.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { agentTable } from '../../src/cli/commands/status/index.js';
import { ConnectStream } from '../../src/daemon/connect-stream.js';
import { apiServer, closeServer, healthServer, listen } from '../../src/daemon/http-servers.js';
import type { AgentStatus } from '../../src/daemon/protocol.js';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await closeServer(s);
});

async function start(server: http.Server): Promise<number> {
  servers.push(server);
  return (await listen(server, { host: '127.0.0.1', port: 0 })).port;
}

function request(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const status: AgentStatus = {
  v: 1,
  node: 'n1',
  version: 'v0.1.0',
  startedAt: '2026-12-06T10:00:00.000Z',
  ready: true,
  reasons: [],
  events: { total: 12, perSecond: 0.2, kernelLost: 0, unresolved: 1 },
  connects: { made: 6, answered: 6 },
  connectsAsMade: { reported: true },
  subscribers: 0,
  sinks: { stream: { subscribers: 0, lost: 0 } },
};

describe('the API listener', () => {
  it('serves /v1/status, opens /v1/connects before any connect, and refuses bad queries, paths and methods', async () => {
    const stream = new ConnectStream();
    const port = await start(apiServer(() => status, stream));
    const s = await request(port, '/v1/status');
    expect(s.status).toBe(200);
    expect(JSON.parse(s.body)).toEqual(status);
    // The stream's status line arrives at once, though nothing was published.
    const opened = await new Promise<{ status: number; type: string | undefined }>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/v1/connects?when=answer', agent: false }, (res) => {
        resolve({ status: res.statusCode!, type: res.headers['content-type'] });
        req.destroy();
      });
    });
    expect(opened).toEqual({ status: 200, type: 'application/x-ndjson' });
    const bad = await request(port, '/v1/connects?selector=a%20in%20(');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/^selector: /);
    expect((await request(port, '/v1/connects?when=later')).status).toBe(400);
    expect((await request(port, '/v1/nothing')).status).toBe(404);
    expect((await request(port, '/v1/status', 'POST')).status).toBe(405);
  });
});

describe('the health listener', () => {
  it('answers /readyz 503 with the reasons until ready, /healthz 200, /metrics as Prometheus text (500 if a family is broken)', async () => {
    let reasons = ['BPF programs not attached yet'];
    let broken = false;
    const port = await start(
      healthServer({
        readiness: () => ({ ready: reasons.length === 0, reasons }),
        metrics: () => {
          if (broken) throw new Error('metric name "a-b" is not a Prometheus name');
          return '# HELP x X.\n# TYPE x gauge\nx 1\n';
        },
      }),
    );
    expect(await request(port, '/readyz')).toMatchObject({ status: 503, body: '{"ready":false,"reasons":["BPF programs not attached yet"]}\n' });
    reasons = [];
    expect(await request(port, '/readyz')).toMatchObject({ status: 200, body: '{"ready":true,"reasons":[]}\n' });
    expect(await request(port, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    expect(await request(port, '/metrics')).toMatchObject({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: '# HELP x X.\n# TYPE x gauge\nx 1\n' });
    broken = true;
    expect(await request(port, '/metrics')).toMatchObject({ status: 500 });
    expect((await request(port, '/v1/connects')).status).toBe(404);
  });
});

describe('status table', () => {
  it('one line per node; a node without a ready agent shows - and the reason', () => {
    expect(
      agentTable([
        { node: 'n1', pod: 'netpol-agent-abcde', ready: true, status },
        { node: 'n2', pod: null, ready: false, reason: 'no agent pod scheduled on this node yet' },
      ]),
    ).toEqual([
      'NODE  AGENT               READY  VERSION  EVENTS/S  EVENTS  LOST  UNRESOLVED  CLIENTS  SINKS / REASON',
      'n1    netpol-agent-abcde  true   v0.1.0   0.2       12      0     1           0        stream: subscribers=0 lost=0',
      'n2    -                   false  -        -         -       -     -           -        no agent pod scheduled on this node yet',
    ]);
  });
});
