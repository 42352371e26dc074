/**
 * A workstation's way to the node agents (`kubectl netpol trace` and `status`): the agent's API
 * listens on its pod's loopback (127.0.0.1:9808), so every request goes through the API server's
 * pods/portforward subresource, with the user's own credentials and RBAC. A local listener on
 * 127.0.0.1 (an ephemeral port) turns each HTTP connection into one port-forward to the agent pod
 * (client-node's PortForward over WebSocket), and node:http speaks to it.
 */
import http from 'node:http';
import net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { PortForward, type KubeConfig } from '@kubernetes/client-node';
// Not re-exported by the package index; the package has no exports map, so the file is reachable.
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import { AGENT_NAMESPACE } from '../../cluster/deploy.js';
import { API_PORT, decodeLine, encodeQuery, type AgentStatus, type ConnectsQuery, type WireLine } from '../../daemon/protocol.js';
import { EnvironmentError } from '../../errors.js';

/** An error reaching one agent, naming its node and pod. */
export class AgentUnreachable extends Error {
  constructor(
    readonly node: string,
    readonly pod: string,
    detail: string,
    /** Retrying cannot help (the user's RBAC refuses the port-forward). */
    readonly fatal = false,
  ) {
    super(`agent ${AGENT_NAMESPACE}/${pod} on node ${node}: ${detail}`);
    this.name = 'AgentUnreachable';
  }
}

/** A local port whose connections are port-forwarded to one agent pod's API. */
export class AgentTunnel {
  /** Why the last port-forward failed (the HTTP client then only sees its connection close). */
  private lastError: AgentUnreachable | undefined;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly node: string,
    readonly pod: string,
    private readonly sockets: Set<net.Socket>,
  ) {}

  static async open(kc: KubeConfig, node: string, pod: string): Promise<AgentTunnel> {
    // A handler of our own: client-node's default one ends process.stdout when the server closes a
    // stream, which would cut the trace's own output.
    const sink = (): Writable => new Writable({ write: (_c, _e, done) => done() });
    const handler = new WebSocketHandler(kc, undefined, { stdin: new PassThrough(), stdout: sink(), stderr: sink() });
    const forward = new PortForward(kc, true, handler);
    const sockets = new Set<net.Socket>();
    let tunnel: AgentTunnel | undefined;
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // A failed port-forward ends this local connection; the reason is kept for the request's error.
      socket.on('error', () => {});
      const errors: Buffer[] = [];
      const errStream = new Writable({
        write: (chunk: Buffer, _enc, done) => {
          errors.push(chunk);
          done();
        },
      });
      // The API server's answer on the error channel (e.g. nothing listens on the port in the pod).
      const failed = (detail: string, fatal = false): void => {
        const err = new AgentUnreachable(node, pod, detail, fatal);
        if (tunnel) tunnel.lastError = err;
        socket.destroy(err);
      };
      forward
        .portForward(AGENT_NAMESPACE, pod, [API_PORT], socket, errStream, socket)
        .then((ws) => {
          const w = ws as unknown as { on?: (ev: string, f: (...a: unknown[]) => void) => void };
          w.on?.('close', () => {
            const text = Buffer.concat(errors).toString('utf8').trim();
            if (text) failed(`port-forward: ${text}`);
            else socket.end();
          });
          socket.on('close', () => (ws as unknown as { close: () => void }).close());
        })
        .catch((err: unknown) => failed(`port-forward refused: ${describeWsError(err)}`, /\b403\b/.test(describeWsError(err))));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    tunnel = new AgentTunnel(server, (server.address() as net.AddressInfo).port, node, pod, sockets);
    return tunnel;
  }

  /** GET a JSON document from the agent. */
  async getJson<T>(path: string, timeoutMs = 15_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: this.port, path, agent: false, timeout: timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('error', (e) => reject(this.wrap(e)));
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new AgentUnreachable(this.node, this.pod, `GET ${path}: HTTP ${res.statusCode}: ${body.trim().slice(0, 300)}`));
            return;
          }
          try {
            resolve(JSON.parse(body) as T);
          } catch (err) {
            reject(new AgentUnreachable(this.node, this.pod, `GET ${path}: not JSON: ${(err as Error).message}`));
          }
        });
      });
      req.on('timeout', () => req.destroy(new AgentUnreachable(this.node, this.pod, `GET ${path}: no answer in ${timeoutMs} ms`)));
      req.on('error', (e) => reject(this.wrap(e)));
    });
  }

  status(): Promise<AgentStatus> {
    return this.getJson<AgentStatus>('/v1/status');
  }

  /**
   * Streams /v1/connects; `onLine` gets each decoded line. Resolves when the stream ends (the agent
   * stopped, or stop() was called); rejects when it cannot be opened or a line is not v1.
   */
  streamConnects(query: ConnectsQuery, onLine: (line: WireLine) => void, signal?: AbortSignal): Promise<void> {
    const path = `/v1/connects?${encodeQuery(query)}`;
    return new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: this.port, path, agent: false }, (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => reject(new AgentUnreachable(this.node, this.pod, `GET ${path}: HTTP ${res.statusCode}: ${body.trim().slice(0, 300)}`)));
          return;
        }
        let rest = '';
        const source = `agent ${AGENT_NAMESPACE}/${this.pod} on node ${this.node}`;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          rest += chunk;
          let nl: number;
          while ((nl = rest.indexOf('\n')) >= 0) {
            const line = rest.slice(0, nl);
            rest = rest.slice(nl + 1);
            if (line === '') continue;
            try {
              onLine(decodeLine(line, source));
            } catch (err) {
              req.destroy();
              reject(err);
              return;
            }
          }
        });
        res.on('end', () => resolve());
        res.on('error', (e) => (signal?.aborted ? resolve() : reject(this.wrap(e))));
      });
      req.on('error', (e) => (signal?.aborted ? resolve() : reject(this.wrap(e))));
      const abort = (): void => {
        req.destroy();
        resolve();
      };
      if (signal?.aborted) abort();
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  private wrap(e: Error): Error {
    if (e instanceof AgentUnreachable) return e;
    return this.lastError ?? new AgentUnreachable(this.node, this.pod, e.message);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function describeWsError(err: unknown): string {
  const e = err as { message?: string; error?: { message?: string } };
  const msg = e?.error?.message ?? e?.message ?? String(err);
  // A 403 from the API server: the user may not create pods/portforward in netpol-system.
  // (A WebSocket port-forward is an HTTP GET: the API server authorizes it as verb get.)
  if (/403/.test(msg)) return `${msg} (your RBAC must allow get and create on pods/portforward in ${AGENT_NAMESPACE})`;
  return msg;
}

/** For commands: an EnvironmentError when no agent could be reached at all. */
export function noAgentsError(problems: string[]): EnvironmentError {
  return new EnvironmentError(`no netpol agent could be reached:\n  ${problems.join('\n  ')}`, 'kubectl netpol deploy installs the agents; kubectl netpol status shows them');
}
