/**
 * The node agent's plug points (`netpol agent`, the DaemonSet process in src/daemon/). The agent
 * attributes every connect on its node once (src/cluster/cluster-agent.ts) and hands it, in order,
 * to each sink: the live stream for `kubectl netpol trace`, the traffic-profile writer, the live
 * judge of `kubectl netpol audit`. A sink never blocks the agent: it buffers, and whatever it has
 * to give up on it counts and shows in its status, never drops silently.
 *
 * Layers: src/daemon sits above src/policy and src/cluster (it wires them); nothing below imports it.
 */
import type { RingMark } from '../agent/pins.js';
import type { PodConnect } from '../cluster/cluster-agent.js';
import type { LiveClusterView } from '../cluster/live.js';
import type { ProtocolState } from '../cluster/profile/observing.js';

/** What a sink is given when the agent starts. */
export interface SinkContext {
  /** This node's name (spec.nodeName of the pods it sees). */
  readonly node: string;
  /** The agent's informer-backed view of the cluster: pods, services, policies, owners. */
  readonly view: LiveClusterView;
}

/** A figure in /v1/status and `kubectl netpol status`; numbers are totals since start unless named per second. */
export type StatusFigures = Record<string, number | string | boolean>;

/** One Prometheus metric family, rendered by the agent's /metrics endpoint. */
export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: { labels?: Record<string, string>; value: number }[];
}

export interface ConnectSink {
  /** Short name: the key of this sink's figures in the status document. */
  readonly name: string;
  /**
   * Every attributed connect of this node, once, when answered (connect.event.outcome is final:
   * established, refused, timeout, closed, error; latencyNs set), in order. Must return quickly; a
   * throw is caught, counted in the agent's status as this sink's `errors`, and never stops the agent.
   */
  accept(connect: PodConnect): void;
  /**
   * Optional: the same connects as they are made (outcome `connecting`, before any answer; only
   * when the agent's sockops hook is attached). For sinks that must act before the answer comes.
   */
  acceptMade?(connect: PodConnect): void;
  /**
   * Optional: `count` more connects just like `connect` (the same pod, edge and verdict), the last
   * one at `lastSeen`. The agent counts the established answers of an edge in the kernel instead of
   * delivering each (src/daemon/kernel-dedup.ts), and hands the counts over about once a second, only
   * while every sink has this method; a sink handles them as `count` calls of accept() would.
   */
  acceptRepeats?(connect: PodConnect, count: number, lastSeen: Date): void;
  /**
   * Optional: may the later connects of this connect's edge (just given to accept()) be counted in
   * the kernel? Default yes. The judge says yes only for edges every policy allows.
   */
  repeatable?(connect: PodConnect): boolean;
  /**
   * Optional: calls `listener` whenever this sink's verdicts may change for a reason other than the
   * cluster view (which the agent watches itself); returns what unsubscribes. The agent then stops
   * counting edges in the kernel on the old verdicts at once.
   */
  onVerdictInputs?(listener: () => void): () => void;
  /**
   * Optional: what the agent observes, said once its programs are attached (`attachStart`: taken
   * before the first was attached). The profile sink records it in status.protocols.
   */
  observing?(protocols: ProtocolState[], attachStart: Date): void;
  /** Figures for the status document (backlog, written, lost, …). */
  status(): StatusFigures;
  /** Metric families for /metrics. */
  metrics?(): MetricFamily[];
  /** Ready to serve (e.g. its first write to the API server succeeded)? A reason when not. */
  readiness?(): { ready: boolean; reason?: string };
  /**
   * Optional, for a sink that journals connects: the last kernel ring position it journaled
   * (PodConnect.cursor), read once at start; the agent does not deliver those records again.
   */
  ringMark?(): RingMark | undefined;
  /**
   * Optional, for a sink that buffers its journal: write what accept() buffered. The agent calls it
   * before the kernel ring frees the records of a batch (once per batch, not per connect).
   */
  sync?(): void;
  /** Flush what is buffered, within the deadline; called on SIGTERM. */
  close(deadline: Date): Promise<void>;
}

/**
 * Makes a sink once the agent knows its node and has a synced cluster view. The agent is given a
 * list of them (src/daemon/sinks.ts, one line per sink); a factory that throws stops the agent
 * with its error (a sink the user asked for that cannot start is not silently left out).
 */
export type SinkFactory = (ctx: SinkContext) => ConnectSink | Promise<ConnectSink>;
