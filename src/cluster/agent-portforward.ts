/**
 * Reaching the node agents' client API (127.0.0.1:9808 inside each agent pod) the way kubectl
 * port-forward does: through the pods/portforward subresource, so the user's own RBAC decides who
 * may read it. One local listener on 127.0.0.1:<ephemeral> per agent pod; each TCP connection to it
 * is tunneled to the pod's port; HTTP requests go to that listener.
 */
import http from 'node:http';
import net from 'node:net';
import { PortForward, type KubeConfig } from '@kubernetes/client-node';
import { EnvironmentError } from '../errors.js';
import { rawRequest } from './live.js';
import type { V1Pod } from './objects.js';

export const AGENT_NAMESPACE = 'netpol-system';
export const AGENT_SELECTOR = 'app.kubernetes.io/name=netpol-agent';
export const AGENT_API_PORT = 9808;

export interface AgentPod {
  name: string;
  node: string;
  ready: boolean;
}

/** The agent pods of the DaemonSet, one per node. */
export async function agentPods(kc: KubeConfig): Promise<AgentPod[]> {
  const list = (await rawRequest(kc, `/api/v1/namespaces/${AGENT_NAMESPACE}/pods?labelSelector=${encodeURIComponent(AGENT_SELECTOR)}`)) as { items?: V1Pod[] };
  return (list.items ?? [])
    .filter((p) => p.status?.phase === 'Running')
    .map((p) => ({
      name: p.metadata?.name ?? '',
      node: p.spec?.nodeName ?? '',
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    }))
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** A local listener tunneling to one agent pod's API port; close() ends it and its tunnels. */
export class AgentTunnel {
  private constructor(
    private readonly server: net.Server,
    private readonly sockets: Set<net.Socket>,
    readonly port: number,
    readonly pod: AgentPod,
  ) {}

  static async open(kc: KubeConfig, pod: AgentPod, onError: (message: string) => void = () => {}): Promise<AgentTunnel> {
    const forward = new PortForward(kc, true);
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      forward.portForward(AGENT_NAMESPACE, pod.name, [AGENT_API_PORT], socket, null, socket).catch((err: unknown) => {
        onError(`port-forward to ${AGENT_NAMESPACE}/${pod.name}: ${(err as Error).message}`);
        socket.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new AgentTunnel(server, sockets, (server.address() as net.AddressInfo).port, pod);
  }

  /** GET `path` from the agent; resolves with the response once its headers arrive (status 200 only). */
  get(path: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: this.port, path, signal }, (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => reject(new EnvironmentError(`agent ${this.pod.name} on ${this.pod.node}: GET ${path}: HTTP ${res.statusCode} ${body.trim().slice(0, 200)}`)));
          return;
        }
        resolve(res);
      });
      req.on('error', reject);
    });
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}
