/**
 * The agent's two HTTP listeners (node:http, no framework):
 *   API (127.0.0.1:9808): GET /v1/status, GET /v1/connects, GET /v1/audit[?since=] — trace data, only through port-forward.
 *   health (0.0.0.0:9809): GET /healthz, /readyz, /metrics — no trace data, for the kubelet and Prometheus.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAuditQuery, streamAudit, type AuditQuery, type AuditSource } from './audit-stream.js';
import type { ConnectStream } from './connect-stream.js';
import { METRICS_CONTENT_TYPE } from './metrics-text.js';
import { compileConnectFilter } from './connect-filter.js';
import { parseQuery, QueryError, type AgentStatus, type ConnectsQuery } from './protocol.js';

export interface Listen {
  host: string;
  port: number;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function route(req: http.IncomingMessage, res: http.ServerResponse): URL | undefined {
  const url = new URL(req.url ?? '/', 'http://agent');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    sendJson(res, 405, { error: `method ${req.method} not allowed` });
    return undefined;
  }
  return url;
}

export async function listen(server: http.Server, at: Listen): Promise<Listen> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return { host: addr.address, port: addr.port };
}

/** A handler's unexpected error answers 500 (or ends the stream) instead of taking the agent down. */
function guarded(handler: http.RequestListener): http.RequestListener {
  return (req, res) => {
    try {
      handler(req, res);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { error: (err as Error).message });
    }
  };
}

/** The client API. */
export function apiServer(status: () => AgentStatus, stream: ConnectStream, audit: () => AuditSource | undefined = () => undefined): http.Server {
  return http.createServer(guarded((req, res) => {
    const url = route(req, res);
    if (!url) return;
    if (url.pathname === '/v1/status') {
      sendJson(res, 200, status());
      return;
    }
    if (url.pathname === '/v1/connects') {
      let query: ConnectsQuery;
      try {
        query = parseQuery(url.searchParams);
        compileConnectFilter(query); // a bad selector is refused before the stream opens
      } catch (err) {
        if (!(err instanceof QueryError)) throw err;
        sendJson(res, 400, { error: err.message });
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store', 'X-Netpol-Wire': 'connects/v1' });
      // The status line goes out now, so a client sees the stream open before the first connect.
      res.flushHeaders();
      const unsubscribe = stream.subscribe(query, res);
      const end = (): void => unsubscribe();
      req.on('close', end);
      res.on('close', end);
      return;
    }
    if (url.pathname === '/v1/audit') {
      const source = audit();
      if (!source) {
        sendJson(res, 503, { error: 'the live judge is not running on this agent (see /v1/status: sinks)' });
        return;
      }
      let query: AuditQuery;
      try {
        query = parseAuditQuery(url.searchParams);
      } catch (err) {
        if (!(err instanceof QueryError)) throw err;
        sendJson(res, 400, { error: err.message });
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-store', 'X-Netpol-Wire': 'audit/v1' });
      res.flushHeaders();
      const { stop } = streamAudit(source, res, undefined, query);
      req.on('close', stop);
      res.on('close', stop);
      return;
    }
    sendJson(res, 404, { error: `no such path ${url.pathname}; the API has /v1/status, /v1/connects and /v1/audit` });
  }));
}

export interface HealthSources {
  readiness(): { ready: boolean; reasons: string[] };
  metrics(): string;
}

/** The kubelet's probes and Prometheus. */
export function healthServer(src: HealthSources): http.Server {
  return http.createServer(guarded((req, res) => {
    const url = route(req, res);
    if (!url) return;
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok\n');
      return;
    }
    if (url.pathname === '/readyz') {
      const r = src.readiness();
      sendJson(res, r.ready ? 200 : 503, r);
      return;
    }
    if (url.pathname === '/metrics') {
      let text: string;
      try {
        text = src.metrics();
      } catch (err) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`metrics: ${(err as Error).message}\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    sendJson(res, 404, { error: `no such path ${url.pathname}; this port serves /healthz, /readyz and /metrics` });
  }));
}

/** Stops accepting and closes idle keep-alive connections; open streams are ended by their owner. */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
