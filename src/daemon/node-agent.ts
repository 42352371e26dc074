/**
 * `netpol agent`: the node agent process (the DaemonSet's container). One ClusterAgent traces every
 * pod of this node, with each connect reported when answered, and also as made while a client wants
 * that (`trace` without --latency; the sockops hook is attached only then, src/daemon/as-made.ts),
 * so one kernel program serves `trace` without and with --latency. Every connect goes to the live stream
 * (/v1/connects) and, when answered, to each sink (src/daemon/sink.ts). The pod view watches only
 * this node's pods (fieldSelector spec.nodeName); services, namespaces, policies and owners are
 * cluster-wide, as enrichment needs.
 *
 * Readiness (/readyz) waits for the BPF programs to be attached, the view to be synced and every
 * sink to be ready; each reason not met is listed. stop() (SIGTERM) stops accepting clients, ends
 * their streams, stops tracing (delivering what the kernel already has), then closes the sinks
 * within a deadline.
 */
import { mkdirSync } from 'node:fs';
import type http from 'node:http';
import { createRequire } from 'node:module';
import type { NodeLock } from '../agent/node-lock.js';
import { onBpffs, type PinOptions, type RingMark } from '../agent/pins.js';
import { agentRemoval, daemonSetOf } from '../cluster/agent-removal.js';
import { ClusterAgent, thisNodeName, type PodConnect } from '../cluster/cluster-agent.js';
import type { LiveClusterView } from '../cluster/live.js';
import { AsMadeSwitch } from './as-made.js';
import { KernelDedup } from './kernel-dedup.js';
import { ConnectStream } from './connect-stream.js';
import type { AuditSource } from './audit-stream.js';
import { apiServer, closeServer, healthServer, listen, type Listen } from './http-servers.js';
import { renderMetrics } from './metrics-text.js';
import { API_PORT, HEALTH_PORT, WIRE_VERSION, type AgentStatus } from './protocol.js';
import { MinuteRate } from './rate.js';
import type { ConnectSink, MetricFamily, SinkFactory, StatusFigures } from './sink.js';

export const AGENT_VERSION = `v${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}`;

export interface NodeAgentOptions {
  /** Default: thisNodeName() ($NETPOL_NODE_NAME, $NODE_NAME from the downward API, the hostname). */
  node?: string;
  kubeconfig?: string;
  context?: string;
  /** Default 127.0.0.1:9808. */
  api?: Listen;
  /** Default 0.0.0.0:9809. */
  health?: Listen;
  sinks?: readonly SinkFactory[];
  /** Pods the view holds: this node's (default) or the whole cluster's (peers on other nodes by name). */
  podScope?: 'node' | 'cluster';
  /** Lines a slow /v1/connects client may have waiting. */
  subscriberQueue?: number;
  /**
   * How long a connect from a kubelet container the view does not know yet is held, with every
   * connect behind it, before it is given up on (default 10 s, ClusterAgentOptions.holdMs).
   * bench/connect-storm.ts shortens it: other users' test pods on the same machine are such containers.
   */
  holdMs?: number;
  /**
   * Also report connect() calls that fail before any SYN is sent (ENETUNREACH, ...): the syscall
   * tracepoints, which put every syscall of the node on the tracepoint slow path. Off by default.
   */
  connectErrors?: boolean;
  /** How long the sockops hook stays attached after the last client wanting connects as made left (default AS_MADE_LINGER_MS). */
  asMadeLingerMs?: number;
  /** stop()'s whole budget from its call: connects still held for their pod are given up on (counted) and the sinks closed by then. Default 10 s. */
  closeDeadlineMs?: number;
  /**
   * Count the established answers of edges judged allowed in the kernel instead of reporting each
   * (src/daemon/kernel-dedup.ts); on by default, in effect only while every sink takes repeats and
   * no /v1/connects client streams. `--no-kernel-dedup` turns it off.
   */
  kernelDedup?: boolean;
  /** The de-duplication's sweep interval (default 1 s). */
  dedupSweepMs?: number;
  /** Where the agent says what it does (stderr). */
  log?: (line: string) => void;
  /** Watch restarts etc. */
  onWatchError?: (message: string) => void;
  /**
   * One agent per node: an exclusive lock on this file (beside the journal) is held while the agent
   * runs; a second agent waits for it (said in /readyz and status) before it reads the journal.
   */
  lockPath?: string;
  /**
   * Keep the kernel side (BPF programs, ring buffer, counters) across restarts, pinned under `root`
   * (src/agent/pins.ts): `on`, `off`, or `auto` — on when this process is a DaemonSet's pod (`pod`).
   * Off by default (the programs go with the process, as with `trace`).
   */
  pin?: { mode: 'auto' | 'on' | 'off'; root: string; pod?: { namespace: string; name: string } };
}

interface SinkSlot {
  sink: ConnectSink;
  errors: number;
}

export class NodeAgent {
  readonly node: string;
  readonly startedAt = new Date();
  private readonly stream: ConnectStream;
  /** The sockops hook, attached while something wants connects as made. */
  private readonly asMade: AsMadeSwitch;
  private readonly rate = new MinuteRate();
  private readonly sinks: SinkSlot[] = [];
  private apiHttp: http.Server | undefined;
  private healthHttp: http.Server | undefined;
  private view: LiveClusterView | undefined;
  private agent: ClusterAgent | undefined;
  private rateTimer: NodeJS.Timeout | undefined;
  private lastReceived = 0;
  private connects = 0;
  private dedupedInKernel = 0;
  private dedup: KernelDedup | undefined;
  private dedupOff: string | undefined = 'not started';
  private readonly unsubscribe: (() => void)[] = [];
  private made = 0;
  private udpSends = 0;
  private kernelLost = 0;
  private unresolved = 0;
  private startError: string | undefined;
  private locks: NodeLock[] = [];
  private waitingFor: string | undefined;
  private kernelState: { pinned: boolean; dir?: string; reopened?: boolean; resumeSkipped?: number; problem?: string; daemonSet?: string } = { pinned: false };
  private stopping: Promise<void> | undefined;
  /** Where the listeners ended up (port 0 in tests picks a free port). */
  apiAddress: Listen | undefined;
  healthAddress: Listen | undefined;

  constructor(private readonly opts: NodeAgentOptions) {
    this.node = opts.node ?? thisNodeName();
    this.asMade = new AsMadeSwitch({ ...(opts.asMadeLingerMs !== undefined ? { lingerMs: opts.asMadeLingerMs } : {}), ...(opts.log ? { log: opts.log } : {}) });
    this.stream = new ConnectStream({
      ...(opts.subscriberQueue !== undefined ? { queueLines: opts.subscriberQueue } : {}),
      wantAsMade: () => this.asMade.want(),
      onSubscribers: () => this.updateDedup(),
    });
  }

  /**
   * Listens first (so /readyz answers 503 with reasons while starting), then syncs the view,
   * attaches the programs and makes the sinks. Throws what keeps the agent from running.
   */
  async start(): Promise<void> {
    const log = this.opts.log ?? (() => {});
    this.healthHttp = healthServer({ readiness: () => this.readiness(), metrics: () => renderMetrics(this.metricFamilies()) });
    this.healthAddress = await listen(this.healthHttp, this.opts.health ?? { host: '0.0.0.0', port: HEALTH_PORT });
    this.apiHttp = apiServer(() => this.status(), this.stream, () => this.auditSource());
    this.apiAddress = await listen(this.apiHttp, this.opts.api ?? { host: '127.0.0.1', port: API_PORT });
    log(`netpol agent ${AGENT_VERSION} on node ${this.node}: API on ${this.apiAddress.host}:${this.apiAddress.port}, health on ${this.healthAddress.host}:${this.healthAddress.port}`);
    try {
      if (this.opts.lockPath) await this.lock(this.opts.lockPath, false, log);
      const { LiveClusterView } = await import('../cluster/live.js');
      this.view = await LiveClusterView.connect({
        kubeconfig: this.opts.kubeconfig,
        context: this.opts.context,
        ...((this.opts.podScope ?? 'node') === 'node' ? { podFieldSelector: `spec.nodeName=${this.node}` } : {}),
        ...(this.opts.onWatchError ? { onWatchError: this.opts.onWatchError } : {}),
      });
      log(`cluster view synced (${this.view.description}; pods: ${(this.opts.podScope ?? 'node') === 'node' ? `node ${this.node}` : 'cluster'})`);
      const view = this.view;
      // The sinks first, then the BPF programs: a connect traced before every sink exists would reach
      // only some of them (a slow sink start, e.g. the profile writer reading its objects, was a
      // window of connects in no profile and counted nowhere).
      for (const factory of this.opts.sinks ?? []) {
        const sink = await factory({ node: this.node, view });
        this.sinks.push({ sink, errors: 0 });
        log(`sink ${sink.name} started`);
      }
      const pin = await this.pinning(view, log);
      // Before any program is attached: no edge recorded from here on is older than this.
      const attachStart = new Date();
      this.agent = await ClusterAgent.start(
        {
          ...(pin ? { pin } : {}),
          view,
          node: this.node,
          filter: () => true,
          reportConnects: true,
          alsoAnswers: true,
          // The sockops hook only while a client (or a sink) wants connects as made: it costs
          // kernel time on every connect and a second event per connect (as-made.ts).
          reportConnectsOnDemand: true,
          // UDP sends too (each socket's first datagram per destination), for the profiles and the
          // judge; TCP alone when the cgroup hooks cannot attach (said in the status document).
          udp: true,
          udpOptional: true,
          ...(this.opts.connectErrors ? { connectErrors: true } : {}),
          onLost: (_n, total) => {
            this.kernelLost = total;
          },
          onUnresolved: () => this.unresolved++,
          ...(this.opts.holdMs !== undefined ? { holdMs: this.opts.holdMs } : {}),
        },
        (c) => this.deliver(c),
      );
      // A sink that acts on connects as made wants them all the time.
      for (const slot of this.sinks) if (slot.sink.acceptMade) this.asMade.want();
      const { bootTimeNs } = await import('../agent/clock.js');
      this.asMade.attach(this.agent, bootTimeNs);
      const reporting = this.asMade.reporting;
      if (reporting.problem) log(`warning: connects are reported when answered only: ${reporting.problem}`);
      const udp = this.agent.udpReporting;
      if (!udp.observed) log(`warning: UDP is not observed: ${udp.problem ?? 'its hooks are not attached'}`);
      // The profiles record it (status.protocols): learn takes DNS as observed only where UDP was.
      const protocols = [{ protocol: 'TCP' as const, observed: true }, { protocol: 'UDP' as const, ...udp }];
      for (const slot of this.sinks) slot.sink.observing?.(protocols, attachStart);
      const pinned = this.agent.pinning;
      if (pinned) {
        this.kernelState = { ...this.kernelState, pinned: true, dir: pinned.dir, reopened: pinned.reopened, resumeSkipped: pinned.resumeSkipped };
        log(
          pinned.reopened
            ? `kernel state reopened from ${pinned.dir}: reading what was recorded while no agent ran` + (pinned.resumeSkipped ? ` (${pinned.resumeSkipped} records already journaled, skipped)` : '')
            : `kernel state pinned under ${pinned.dir}`,
        );
      }
      this.startDedup(view, log, new (await import('../agent/clock.js')).BootClock());
      log('BPF programs attached');
      this.rateTimer = setInterval(() => this.sampleRate(), 1000);
      this.rateTimer.unref();
    } catch (err) {
      this.startError = (err as Error).message;
      throw err;
    }
  }

  /**
   * Kernel de-duplication (kernel-dedup.ts): bumped on every change of the cluster view and of what
   * a sink judges by; on while updateDedup() says so.
   */
  private startDedup(view: LiveClusterView, log: (line: string) => void, clock: { toDate(ns: bigint): Date }): void {
    const table = this.agent?.allowedEdges;
    if (this.opts.kernelDedup === false || !table) {
      this.dedupOff = this.opts.kernelDedup === false ? 'turned off (--no-kernel-dedup)' : 'no kernel table';
      return;
    }
    // A pinned predecessor's state: start past its generation (its entries are swept as orphaned).
    const previous = table.readState().generation;
    const dedup = new KernelDedup({ table, previousGeneration: previous, onRepeats: (c, n, ns) => this.repeats(c, n, ns > 0n ? clock.toDate(ns) : new Date()) });
    this.dedup = dedup;
    // Counted by other pinned objects (another version's, taken over at start) and never handed over.
    dedup.figures.orphaned += this.agent?.orphanedAllowed ?? 0;
    this.unsubscribe.push(view.onVerdictChange(() => dedup.invalidate()));
    for (const { sink } of this.sinks) {
      const off = sink.onVerdictInputs?.(() => dedup.invalidate());
      if (off) this.unsubscribe.push(off);
    }
    dedup.start(this.opts.dedupSweepMs);
    this.updateDedup();
    if (this.dedupOff) log(`kernel de-duplication of allowed edges off: ${this.dedupOff}`);
  }

  /** On only while every sink takes repeats and no /v1/connects client wants every connect. */
  private updateDedup(): void {
    if (!this.dedup) return;
    const without = this.sinks.filter((s) => !s.sink.acceptRepeats).map((s) => s.sink.name);
    const clients = this.stream.subscriberCount;
    this.dedupOff = this.stopping
      ? 'stopping'
      : without.length > 0
        ? `sink${without.length > 1 ? 's' : ''} ${without.join(', ')} take${without.length > 1 ? '' : 's'} no repeats`
        : clients > 0
          ? `${clients} /v1/connects client${clients > 1 ? 's' : ''} streaming (each wants every connect)`
          : undefined;
    this.dedup.setEnabled(this.dedupOff === undefined);
  }

  /** Connects the kernel counted on an edge judged allowed: counted, and handed to every sink. */
  private repeats(c: PodConnect, count: number, lastSeen: Date): void {
    this.connects += count;
    this.dedupedInKernel += count;
    // Not one by one on /v1/connects: its replay and clients are told the count.
    this.stream.noteRepeats(c, count, lastSeen);
    for (const slot of this.sinks) {
      try {
        slot.sink.acceptRepeats?.(c, count, lastSeen);
      } catch {
        slot.errors++;
      }
    }
  }

  /** Waits for an exclusive lock (polling, so /readyz and status say what is awaited). */
  private async lock(path: string, directory: boolean, log: (line: string) => void): Promise<void> {
    // Loaded on use: it calls flock(2) through koffi, a native module every CLI command would load.
    const { NodeLock } = await import('../agent/node-lock.js');
    let said = false;
    for (;;) {
      const lock = NodeLock.tryAcquire(path, directory);
      if (lock) {
        this.locks.push(lock);
        this.waitingFor = undefined;
        if (said) log(`lock ${path} acquired`);
        return;
      }
      const holder = NodeLock.holder(path);
      this.waitingFor = `waiting for the lock ${path}${holder ? ` (held by ${holder})` : ''}: another agent on this node has not stopped yet`;
      if (!said) log(this.waitingFor);
      said = true;
      if (this.stopping) throw new Error('stopped while waiting for the node lock');
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** Whether (and where) to pin the kernel side; takes the pin root's lock when it does. */
  private async pinning(view: LiveClusterView, log: (line: string) => void): Promise<PinOptions | undefined> {
    const o = this.opts.pin;
    if (!o || o.mode === 'off') return undefined;
    if (o.mode === 'auto') {
      if (!o.pod) return undefined;
      try {
        const ds = await daemonSetOf(view.kc, o.pod.namespace, o.pod.name);
        if (!ds) {
          this.kernelState = { pinned: false, problem: `pod ${o.pod.namespace}/${o.pod.name} is not a DaemonSet's: not pinned (--pin pins anyway)` };
          return undefined;
        }
        this.kernelState.daemonSet = `${o.pod.namespace}/${ds}`;
      } catch (err) {
        this.kernelState = { pinned: false, problem: `cannot read pod ${o.pod.namespace}/${o.pod.name}: ${(err as Error).message}: not pinned` };
        log(`warning: ${this.kernelState.problem}`);
        return undefined;
      }
    }
    if (!onBpffs(o.root)) {
      this.kernelState = { pinned: false, problem: `${o.root} is not on a BPF filesystem (mount the host's /sys/fs/bpf): connects made while no agent runs are not seen` };
      log(`warning: ${this.kernelState.problem}`);
      return undefined;
    }
    mkdirSync(o.root, { recursive: true, mode: 0o700 });
    await this.lock(o.root, true, log);
    let resumeAfter: RingMark | undefined;
    for (const { sink } of this.sinks) resumeAfter ??= sink.ringMark?.();
    const beforeFree = (): void => {
      for (const slot of this.sinks) {
        try {
          slot.sink.sync?.();
        } catch {
          slot.errors++;
        }
      }
    };
    return { root: o.root, beforeFree, ...(resumeAfter ? { resumeAfter } : {}) };
  }

  private deliver(c: PodConnect): void {
    if (c.event.outcome === 'connecting') {
      this.made++;
      this.asMade.sawMade(c.event);
      this.stream.publish(c, 'connect');
      for (const slot of this.sinks) {
        if (!slot.sink.acceptMade) continue;
        try {
          slot.sink.acceptMade(c);
        } catch {
          slot.errors++;
        }
      }
      return;
    }
    if (c.record.proto === 'UDP') this.udpSends++;
    else this.connects++;
    this.stream.publish(c, 'answer', this.asMade.notReportedAsMade(c.event));
    for (const slot of this.sinks) {
      try {
        slot.sink.accept(c);
      } catch {
        slot.errors++;
      }
    }
    // Handed to every sink, judged allowed by every policy: its edge's later answers may be counted in the kernel.
    if (this.dedup?.enabled && c.event.outcome === 'established' && c.record.proto !== 'UDP' && this.repeatable(c)) {
      try {
        this.dedup.offer(c);
      } catch (err) {
        this.dedup.lastError = (err as Error).message;
      }
    }
  }

  private repeatable(c: PodConnect): boolean {
    for (const slot of this.sinks) {
      if (slot.sink.repeatable && !slot.sink.repeatable(c)) return false;
    }
    return true;
  }

  private sampleRate(): void {
    const received = this.agent?.eventsReceived ?? 0;
    this.rate.add(received - this.lastReceived);
    this.lastReceived = received;
  }

  /** The live judge's audit records, for GET /v1/audit; undefined while no judge sink runs. */
  private auditSource(): AuditSource | undefined {
    for (const { sink } of this.sinks) {
      const candidate = sink as ConnectSink & Partial<AuditSource>;
      if (sink.name === 'judge' && typeof candidate.subscribe === 'function') return candidate as unknown as AuditSource;
    }
    return undefined;
  }

  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.startError) reasons.push(`start failed: ${this.startError}`);
    if (this.waitingFor) reasons.push(this.waitingFor);
    if (this.stopping) reasons.push('shutting down');
    if (!this.view) reasons.push('cluster view not synced yet');
    if (!this.agent) reasons.push('BPF programs not attached yet');
    else if (this.agent.error) reasons.push(`tracing stopped: ${(this.agent.error as Error).message ?? String(this.agent.error)}`);
    if ((this.opts.sinks?.length ?? 0) > this.sinks.length && !this.startError) reasons.push('sinks not started yet');
    for (const { sink } of this.sinks) {
      const r = sink.readiness?.();
      if (r && !r.ready) reasons.push(`sink ${sink.name}: ${r.reason ?? 'not ready'}`);
    }
    return { ready: reasons.length === 0, reasons };
  }

  status(): AgentStatus {
    // The kernel's counts first, so that the figures include every connect answered until now.
    if (this.dedup && !this.stopping) this.dedup.sweep();
    const r = this.readiness();
    const sinks: Record<string, StatusFigures> = { stream: { ...this.stream.status(), asMade: this.asMade.reporting.reported } };
    for (const slot of this.sinks) {
      let figures: StatusFigures;
      try {
        figures = slot.sink.status();
      } catch (err) {
        figures = { statusError: (err as Error).message };
      }
      sinks[slot.sink.name] = { ...figures, ...(slot.errors ? { errors: slot.errors } : {}) };
    }
    const health = this.view?.health();
    return {
      v: WIRE_VERSION,
      node: this.node,
      version: AGENT_VERSION,
      startedAt: this.startedAt.toISOString(),
      ready: r.ready,
      reasons: r.reasons,
      events: {
        total: this.agent?.eventsReceived ?? 0,
        perSecond: Math.round(this.rate.perSecond() * 100) / 100,
        kernelLost: this.kernelLost,
        unresolved: this.unresolved,
      },
      connects: { made: this.made, answered: this.connects, udpSends: this.udpSends, dedupedInKernel: this.dedupedInKernel },
      kernelDedup: this.dedup ? { ...this.dedup.status(), on: this.dedup.enabled, ...(this.dedupOff ? { off: this.dedupOff } : {}) } : { on: false, off: this.dedupOff ?? 'not started' },
      udp: this.agent ? this.agent.udpReporting : { observed: false, problem: 'not started' },
      connectsAsMade: this.agent ? { ...this.asMade.reporting, wantedBy: this.asMade.consumers } : { reported: false, problem: 'not started', wantedBy: this.asMade.consumers },
      subscribers: this.stream.subscriberCount,
      kernelState: { ...this.kernelState, ...(this.agent?.pinning ? { unsettled: this.agent.pinning.unsettled, unprotected: this.agent.pinning.unprotected } : {}) },
      ...(health ? { clusterView: { connected: health.connected, restarts: health.restarts, ...(health.lastError ? { lastError: health.lastError } : {}) } } : {}),
      sinks,
    };
  }

  metricFamilies(): MetricFamily[] {
    const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ value }] });
    const families: MetricFamily[] = [
      counter('netpol_connects_total', 'TCP connects of this node\'s pods, attributed and answered.', this.connects),
      counter('netpol_connects_made_total', 'TCP connects of this node\'s pods reported as made (before any answer).', this.made),
      counter('netpol_connects_deduped_in_kernel_total', 'Answered connects of edges judged allowed that the kernel counted instead of reporting each (included in netpol_connects_total).', this.dedupedInKernel),
      counter('netpol_connects_orphaned_total', 'Connects a pinned predecessor counted in the kernel and never handed over (counted here, not attributed).', this.dedup?.figures.orphaned ?? 0),
      counter('netpol_udp_sends_total', 'UDP sends of this node\'s pods: each socket\'s first datagram to each destination.', this.udpSends),
      counter('netpol_events_total', 'Events read from the kernel.', this.agent?.eventsReceived ?? 0),
      counter('netpol_events_lost_total', 'Events the kernel dropped (ring buffer full).', this.kernelLost),
      counter('netpol_unresolved_total', 'Connects from containers the cluster view never reported (not attributed to a pod).', this.unresolved),
      {
        name: 'netpol_connects_as_made',
        help: '1 while connects are reported as made (the sockops hook attached: a client or sink wants them), else 0.',
        type: 'gauge',
        samples: [{ value: this.asMade.reporting.reported ? 1 : 0 }],
      },
      { name: 'netpol_ready', help: '1 when the agent is ready (see /readyz for the reasons when not).', type: 'gauge', samples: [{ value: this.readiness().ready ? 1 : 0 }] },
      ...this.stream.metrics(),
    ];
    for (const slot of this.sinks) {
      families.push(...(slot.sink.metrics?.() ?? []));
    }
    return families;
  }

  /**
   * Pinned, at the end: the pins go when the agent is removed for good (its DaemonSet deleted, e.g.
   * `kubectl netpol undeploy`), so nothing stays attached on the node; otherwise (a pod replaced, the
   * node excluded for a while, `--pin` by hand) they stay and the next agent reads on.
   */
  private async releaseKernelState(log: (line: string) => void): Promise<void> {
    const pinned = this.agent?.pinning;
    if (!pinned || !this.view) return;
    const o = this.opts.pin;
    if (o?.mode !== 'auto' || !o.pod) {
      log(`kernel state kept under ${pinned.dir} (the next agent reads on; rm -r ${pinned.dir} removes it)`);
      return;
    }
    const removal = await agentRemoval(this.view.kc, o.pod.namespace, o.pod.name);
    if (removal.forGood) {
      this.agent!.unpin();
      log(`kernel state removed from ${pinned.dir}: ${removal.why}`);
    } else log(`kernel state kept under ${pinned.dir}: ${removal.why}`);
  }

  /** SIGTERM: stop accepting, end streams, stop tracing, close the sinks within the deadline. Idempotent. */
  stop(): Promise<void> {
    // Set before doStop() runs (a microtask later): what it does synchronously (ending the streams
    // tells updateDedup) must already see the agent stopping.
    this.stopping ??= Promise.resolve().then(() => this.doStop());
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const log = this.opts.log ?? (() => {});
    this.updateDedup();
    // One budget from SIGTERM on (the pod's grace period runs from there): tracing stops and held
    // connects are given up by it, and the sinks close by it.
    const deadline = new Date(Date.now() + (this.opts.closeDeadlineMs ?? 10_000));
    clearInterval(this.rateTimer);
    const closingApi = this.apiHttp ? closeServer(this.apiHttp) : Promise.resolve();
    this.stream.endAll();
    this.asMade.stop();
    await closingApi;
    // While the programs still run: the last counts go to the sinks before they close.
    for (const off of this.unsubscribe.splice(0)) off();
    await this.dedup?.stop();
    if (this.agent) await this.agent.stop(deadline);
    await Promise.all(
      this.sinks.map(async ({ sink }) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), Math.max(0, deadline.getTime() - Date.now()));
        });
        try {
          const outcome = await Promise.race([sink.close(deadline).then(() => 'ok' as const), late]);
          if (outcome === 'late') log(`warning: sink ${sink.name} did not close by the deadline`);
        } catch (err) {
          log(`warning: sink ${sink.name} failed to close: ${(err as Error).message}`);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    await this.releaseKernelState(log);
    await this.view?.close();
    for (const lock of this.locks.splice(0).reverse()) lock.release();
    if (this.healthHttp) await closeServer(this.healthHttp);
    log('netpol agent stopped');
  }
}
