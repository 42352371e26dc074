/**
 * ClusterAgent: the node agent's core, shared by `netpol trace tcpconnect` in cluster mode and
 * `netpol learn -l` (src/cli/commands/trace/cluster.ts, src/cli/commands/learn/live.ts): the eBPF
 * agent (src/agent/agent.ts) sees every container's connects on this node; each one is matched to
 * its pod through the live cluster view (container id → status.containerStatuses, else the pod UID
 * of the kubelet cgroup). A connect from a pod the view does not know yet (just created, or the
 * API server is away) is held — in order — until the view knows it or `holdMs` passes, so an API
 * server restart delays output but loses nothing.
 */
import { hostname } from 'node:os';
import type { EnrichedEvent, LocalAgent } from '../agent/agent.js';
import type { PinOptions, RingMark } from '../agent/pins.js';
import type { TracerCounters } from '../agent/tracer.js';
import type { FlowRecord } from '../flows/record.js';
import { isoTime } from '../flows/timestamp.js';
import { enrichWithIndex, podOfContainer, type PodIdentity } from './enrich.js';
// Type-only: the client library loads when cluster mode runs, not with every netpol command.
import type { LiveClusterView } from './live.js';
import type { ClusterIndex } from './lookup.js';
import type { V1Pod } from './objects.js';

/** The node this agent runs on: $NETPOL_NODE_NAME, $NODE_NAME (the downward API's usual name), else the hostname. */
export function thisNodeName(): string {
  return process.env.NETPOL_NODE_NAME || process.env.NODE_NAME || hostname();
}

/** A connect from a pod the filters selected, enriched. */
export interface PodConnect {
  event: EnrichedEvent['event'];
  time: Date;
  record: FlowRecord;
  source: PodIdentity;
  /** K8S.NODE: the pod's node (spec.nodeName), else this node. */
  node: string;
  /** Pinned: the record's place in the ring; a sink that journals the connect records it (resume point). */
  cursor?: RingMark;
}

export interface ClusterAgentOptions {
  view: LiveClusterView;
  filter: (pod: V1Pod, container: string | undefined) => boolean;
  /** This node's name (record.node for pods without spec.nodeName). */
  node?: string;
  /** One event per edge, repeats counted in the kernel (learn). */
  dedupEdges?: boolean;
  /** Report each connect as it is made, not when answered (trace without --latency). */
  reportConnects?: boolean;
  /**
   * Also report UDP: each socket's first datagram to each destination (proto UDP). With
   * `udpOptional`, TCP alone is traced when the UDP hooks cannot be attached (see udpReporting).
   */
  udp?: boolean;
  udpOptional?: boolean;
  /** With reportConnects: also report each connect when answered (the node agent serves both). */
  alsoAnswers?: boolean;
  /** With reportConnects: the sockops hook attached only on setReportConnects(true) (the node agent, while a client wants connects as made). */
  reportConnectsOnDemand?: boolean;
  /** Also report connect() calls that fail before any SYN (AgentOptions.connectErrors: the syscall hooks, off by default). */
  connectErrors?: boolean;
  /** How long a connect from an unknown kubelet container waits for the view (default 10 s). */
  holdMs?: number;
  /** How many connects may wait for their pods at once (default MAX_HELD). */
  maxHeld?: number;
  onLost?: (newlyLost: number, totalLost: number) => void;
  /** A connect given up on: its container never showed up in the cluster view. */
  onUnresolved?: (e: EnrichedEvent) => void;
  /**
   * Keep the kernel side across restarts (src/agent/pins.ts). Each event is settled once onConnect
   * has returned for it (its sinks journaled it) or it was given up on (counted in onUnresolved).
   */
  pin?: PinOptions;
}

/**
 * At most this many connects wait for their pods at once. Everything behind a held connect waits
 * with it (order is kept), so one unknown pod's container during a connect storm held tens of
 * thousands a second: an agent on a node ran out of heap that way. At the bound the connect being
 * waited for is given up on (counted, as at holdMs) so the queue moves, and connects arriving
 * while it is still full are counted as unresolved, not queued.
 */
export const MAX_HELD = 50_000;

/** Connects waiting for their pod, in arrival order. */
interface HoldQueue {
  chain: Promise<void>;
  held: number;
  failure: unknown;
  /** Aborted by stop() at its deadline: whatever is still held is given up on (and counted). */
  stopping: AbortController;
  /** Aborts the wait of the connect at the head of the queue (the queue reached MAX_HELD). */
  waiting: AbortController | undefined;
}

export class ClusterAgent {
  private constructor(
    private readonly agent: LocalAgent,
    readonly node: string,
    private readonly holds: HoldQueue,
  ) {}

  static async start(opts: ClusterAgentOptions, onConnect: (c: PodConnect) => void): Promise<ClusterAgent> {
    const node = opts.node ?? thisNodeName();
    const holdMs = opts.holdMs ?? 10_000;
    const maxHeld = opts.maxHeld ?? MAX_HELD;
    const s: HoldQueue = { chain: Promise.resolve(), held: 0, failure: undefined, stopping: new AbortController(), waiting: undefined };
    // Held connects in arrival order: an array read from `head` (shift() would move every entry
    // behind it, and a storm held behind one unknown pod queues tens of thousands).
    let queue: EnrichedEvent[] = [];
    let head = 0;
    const takeHeld = (): EnrichedEvent => {
      const e = queue[head]!;
      queue[head++] = undefined as unknown as EnrichedEvent;
      if (head === queue.length) {
        queue = [];
        head = 0;
      } else if (head >= 4096 && head * 2 >= queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
      return e;
    };
    const deliver = (e: EnrichedEvent, index: ClusterIndex): boolean => {
      const found = e.container ? podOfContainer(index, { containerId: e.container.id, podUid: e.container.podUid }) : { match: 'none' as const };
      if (!found.identity) return false;
      const identity = withContainerName(found.identity, e.container);
      if (!opts.filter(identity.pod, identity.container)) return true;
      const podNode = identity.pod.spec?.nodeName ?? node;
      const { record } = enrichWithIndex(e.event, index, podNode, isoTime(e.time), () => ({ identity, match: found.match }));
      if (e.event.outcome === 'error') record.errno = e.event.errno;
      onConnect({ event: e.event, time: e.time, record, source: identity, node: podNode, ...(e.cursor ? { cursor: e.cursor } : {}) });
      return true;
    };
    // Containers given up on (never reported by the API server within holdMs): their later events
    // are not held again for a while, so one stray container cannot stall everything behind it.
    const givenUp = new Map<string, number>();
    const recentlyGivenUp = (e: EnrichedEvent): boolean => {
      const at = e.container ? givenUp.get(e.container.id) : undefined;
      return at !== undefined && Date.now() - at < 30_000;
    };
    const placeable = (e: EnrichedEvent, index: ClusterIndex): boolean =>
      e.container != null && podOfContainer(index, { containerId: e.container.id, podUid: e.container.podUid }).identity !== undefined;
    const handle = (e: EnrichedEvent): void => {
      // Fast path: nothing held, pod known.
      if (s.held === 0 && deliver(e, opts.view.index())) {
        e.settle?.();
        return;
      }
      // Not a pod's container (docker, host process), or one already given up on: not ours. While
      // connects are held, such a connect would be dropped all the same when its turn came; it is
      // dropped now, unless the view can place it (then it keeps its place in the order; the fresh
      // index, as in its turn), so a storm behind one held connect is not queued.
      if ((!e.container?.podUid || recentlyGivenUp(e)) && (s.held === 0 || !placeable(e, opts.view.freshIndex()))) {
        e.settle?.();
        return;
      }
      if (s.held >= maxHeld) {
        s.waiting?.abort();
        opts.onUnresolved?.(e);
        e.settle?.();
        return;
      }
      // A kubelet container we cannot place yet: hold it (and everything after it, to keep order).
      s.held++;
      queue.push(e);
      s.chain = s.chain
        .then(async () => {
          const next = takeHeld();
          try {
            if (deliver(next, opts.view.freshIndex())) return;
            if (!next.container?.podUid || recentlyGivenUp(next)) return;
            const waiting = new AbortController();
            s.waiting = waiting;
            // Its own signal only (stop() aborts it too): a signal combined with the agent-long
            // `stopping` one per wait would stay in that signal's dependants on Node 20 (a leak).
            const ok = s.stopping.signal.aborted ? undefined : await opts.view.waitFor((index) => (deliver(next, index) ? true : undefined), holdMs, waiting.signal);
            s.waiting = undefined;
            if (!ok) {
              givenUp.set(next.container.id, Date.now());
              opts.onUnresolved?.(next);
            }
          } finally {
            next.settle?.();
          }
        })
        .catch((err: unknown) => {
          s.failure ??= err;
        })
        .finally(() => {
          s.held--;
        });
    };
    // Loaded on use: the agent brings the libbpf binding (a native module).
    const { LocalAgent } = await import('../agent/agent.js');
    const agent = await LocalAgent.start(
      {
        ...(opts.dedupEdges ? { dedupEdges: true } : {}),
        ...(opts.reportConnects ? { reportConnects: true } : {}),
        ...(opts.udp ? { udp: true } : {}),
        ...(opts.udpOptional ? { udpOptional: true } : {}),
        ...(opts.alsoAnswers ? { alsoAnswers: true } : {}),
        ...(opts.reportConnectsOnDemand ? { reportConnectsOnDemand: true } : {}),
        ...(opts.connectErrors ? { connectErrors: true } : {}),
        ...(opts.onLost ? { onLost: opts.onLost } : {}),
        ...(opts.pin ? { pin: opts.pin } : {}),
      },
      handle,
    );
    return new ClusterAgent(agent, node, s);
  }

  /** Connects waiting for their pods now (at most MAX_HELD). */
  get held(): number {
    return this.holds.held;
  }

  get eventsReceived(): number {
    return this.agent.eventsReceived;
  }

  get connectReporting(): { reported: boolean; problem?: string } {
    return this.agent.connectReporting;
  }

  /** See LocalAgent.setReportConnects. */
  setReportConnects(on: boolean): { reported: boolean; problem?: string } {
    return this.agent.setReportConnects(on);
  }

  /** See LocalAgent.reportingSinceNs. */
  get reportingSinceNs(): bigint | undefined {
    return this.agent.reportingSinceNs;
  }

  /** With udp: whether UDP sends are observed, else why not. */
  get udpReporting(): { observed: boolean; problem?: string } {
    return this.agent.udpReporting;
  }

  get error(): unknown {
    return this.holds.failure ?? this.agent.error;
  }

  /** See LocalAgent.orphanedAllowed. */
  get orphanedAllowed(): number {
    return this.agent.orphanedAllowed;
  }

  /** See LocalAgent.allowedEdges. */
  get allowedEdges(): LocalAgent['allowedEdges'] {
    return this.agent.allowedEdges;
  }

  /** Pinned: see LocalAgent.pinning. */
  get pinning(): LocalAgent['pinning'] {
    return this.agent.pinning;
  }

  /** Removes the pins (the node's agent is removed for good). */
  unpin(): void {
    this.agent.unpin();
  }

  /**
   * Stops tracing, then waits for held connects (each at most holdMs; with a deadline, none past it:
   * those still held are given up on and counted through onUnresolved).
   */
  async stop(deadline?: Date): Promise<TracerCounters> {
    // The deadline is the caller's whole budget (a pod's grace period starts at SIGTERM): connects
    // still waiting for their pod then are given up on and counted (onUnresolved), not waited for.
    const giveUp = (): void => {
      this.holds.stopping.abort();
      this.holds.waiting?.abort();
    };
    const timer = deadline ? setTimeout(giveUp, Math.max(0, deadline.getTime() - Date.now())) : undefined;
    try {
      const counters = await this.agent.stop();
      await this.holds.chain;
      return counters;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A pod matched by its UID only (the kubelet has not published the container's ID yet, as in a
 * container's first moments) gets its container's name from the runtime's own annotations, or,
 * without them, from a pod that has a single container and no init containers (nothing else could
 * have connected).
 */
function withContainerName(identity: PodIdentity, container: EnrichedEvent['container']): PodIdentity {
  if (identity.container !== undefined) return identity;
  if (container?.pod) return { ...identity, container: container.name };
  const spec = identity.pod.spec;
  if (spec?.containers?.length === 1 && !spec.initContainers?.length && !spec.ephemeralContainers?.length) {
    return { ...identity, container: spec.containers[0]!.name };
  }
  return identity;
}
