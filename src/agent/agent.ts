/**
 * The node agent loop: the tcpconnect tracer with its kernel filters kept in step with the
 * containers on this host, and each event enriched (cgroup → container) in arrival order.
 * `netpol trace tcpconnect` and `netpol learn --local` are thin views over it.
 */
import { BootClock } from './clock.js';
import { type CgroupEntry, type ContainerInfo, ContainerResolver } from './containers.js';
import { cgroupIdAt, type ConnectEvent, EVENT_LAYOUT } from './event.js';
import type { PinOptions, RingMark } from './pins.js';
import { SYSCALL_PROGRAMS, TcpConnectTracer, type TracerCounters } from './tracer.js';

export interface EnrichedEvent {
  event: ConnectEvent;
  /** The connecting task's container, or null for a host process. */
  container: ContainerInfo | null;
  /** Wall-clock time the connect started. */
  time: Date;
  /** Pinned (AgentOptions.pin): the record's place in the ring, for the journal (see RingMark). */
  cursor?: RingMark;
  /**
   * Pinned: say the event is safe (journaled, or of no use) once done with it; until then the
   * kernel keeps its record for the next agent. Each consumer settles every event it is handed.
   */
  settle?: () => void;
}

/**
 * A connect as its ring-buffer record, for a consumer that reads the bytes itself (`trace -o json`
 * writes its lines from them): the record (struct tcpconnect_event at `offset`, valid during the
 * call only), the connecting task's container (null: a host process) and the connect's epoch ms.
 */
export type RecordConsumer = (data: DataView, bytes: Uint8Array, offset: number, container: ContainerInfo | null, timeMs: number) => void;

export interface AgentOptions {
  /** Only this container (by name; followed across restarts). */
  containerName?: string;
  /** Only these processes. */
  pids?: number[];
  /** Include host processes (not in a container); with containerName it is ignored. */
  host?: boolean;
  /** Only sockets in these network namespaces. */
  netns?: number[];
  /** Only these destination ports. */
  dports?: number[];
  /** One event per edge, repeats counted in the kernel (learn mode). */
  dedupEdges?: boolean;
  /** Report each connect as it is made, not when answered (see TracerOptions.reportConnects). */
  reportConnects?: boolean;
  /** With reportConnects: also report each connect when answered (see TracerOptions.alsoAnswers). */
  alsoAnswers?: boolean;
  /** With reportConnects: the sockops hook stays detached until setReportConnects(true) (TracerOptions.reportConnectsOnDemand). */
  reportConnectsOnDemand?: boolean;
  /** TCP connects (default true). */
  tcp?: boolean;
  /** UDP: each socket's first datagram to each destination (see TracerOptions.udp). */
  udp?: boolean;
  /** With udp: trace TCP only when the UDP hooks cannot be attached (see TracerOptions.udpOptional). */
  udpOptional?: boolean;
  /**
   * Report connect() calls that fail before any SYN is sent (ENETUNREACH, ...), through the
   * syscall tracepoints (TracerOptions.connectErrors). Default false: attaching them puts every
   * syscall of the host on the tracepoint slow path, and such a connect sends no packet and
   * changes no policy; `trace --connect-errors`, `agent --connect-errors` and
   * `learn --local --connect-errors` ask for them.
   */
  connectErrors?: boolean;
  /** Ring-buffer poll interval while events flow, ms (see TracerOptions.pollMs). */
  pollMs?: number;
  /** Longest ring-buffer poll interval while idle, ms (see TracerOptions.idlePollMs). */
  idlePollMs?: number;
  ringBytes?: number;
  /** Called when the kernel reports newly lost events (ring buffer full). */
  onLost?: (newlyLost: number, totalLost: number) => void;
  /** Interval of the lost-event check, ms. Default 1000. */
  lostCheckMs?: number;
  /** Called once if delivering or enriching an event failed; the agent has stopped tracing. */
  onError?: (err: unknown) => void;
  resolver?: ContainerResolver;
  /** Keep the kernel side across restarts (see TracerOptions.pin); events then carry settle(). */
  pin?: PinOptions;
}

/** The record fields acceptRecord reads (EVENT_LAYOUT), as constants of this module (no lookup per record). */
const CGROUP_AT = EVENT_LAYOUT.cgroup_id;
const TS_AT = EVENT_LAYOUT.ts_ns;

export class LocalAgent {
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private stopWatch: (() => void) | undefined;
  private lostTimer: NodeJS.Timeout | undefined;
  private lastLost = 0;
  private failure: unknown;
  private stopped = false;
  /** With a kernel cgroup filter: marks a cgroup seen for the first time as traced or ignored. */
  private classify: ((cgroupId: bigint, container: ContainerInfo | null) => void) | undefined;

  private constructor(
    private readonly tracer: TcpConnectTracer,
    readonly resolver: ContainerResolver,
    private readonly opts: AgentOptions,
  ) {}

  /**
   * Loads and attaches the BPF program and starts delivering events. With `onRecord`, a connect whose
   * container is known already (and nothing is waiting ahead of it) goes to onRecord as its record,
   * not decoded; the others, in order, to onEvent. Not pinned only (a pinned record is settled
   * through its EnrichedEvent).
   */
  static async start(opts: AgentOptions, onEvent: (e: EnrichedEvent) => void, onRecord?: RecordConsumer): Promise<LocalAgent> {
    const resolver = opts.resolver ?? new ContainerResolver();
    const wanted = (info: ContainerInfo): boolean => opts.containerName === undefined || info.name === opts.containerName;
    // Containers only unless --host (or --pid, which names processes wherever they run).
    const filterByCgroup = opts.containerName !== undefined || (!opts.host && opts.pids === undefined);
    const traced: bigint[] = [];
    const ignored: bigint[] = [];
    if (filterByCgroup) {
      for (const { entry, info } of await resolver.all()) (wanted(info) ? traced : ignored).push(entry.cgroupId);
      ignored.push(1n); // the root cgroup: host processes
    }
    const tracerOpts: ConstructorParameters<typeof TcpConnectTracer>[0] = {};
    if (filterByCgroup) {
      tracerOpts.cgroups = traced;
      tracerOpts.ignoredCgroups = ignored;
    }
    if (opts.pids) tracerOpts.pids = opts.pids;
    if (opts.netns) tracerOpts.netns = opts.netns;
    if (opts.dports) tracerOpts.dports = opts.dports;
    if (opts.dedupEdges) tracerOpts.dedupEdges = true;
    if (opts.reportConnects) tracerOpts.reportConnects = true;
    if (opts.alsoAnswers) tracerOpts.alsoAnswers = true;
    if (opts.reportConnectsOnDemand) tracerOpts.reportConnectsOnDemand = true;
    if (opts.udp) tracerOpts.udp = true;
    if (opts.udpOptional) tracerOpts.udpOptional = true;
    if (opts.ringBytes) tracerOpts.ringBytes = opts.ringBytes;
    if (opts.pollMs) tracerOpts.pollMs = opts.pollMs;
    if (opts.idlePollMs) tracerOpts.idlePollMs = opts.idlePollMs;
    if (opts.pin) tracerOpts.pin = opts.pin;
    if (opts.connectErrors) tracerOpts.connectErrors = true;
    // Connects reported as made only (`trace` without --latency): the sockops program reports each
    // one and takes the connecting task's identity itself, so the state tracepoint (~7 runs per
    // loopback connection, the largest part of the kernel's cost in a connect storm) stays detached.
    const asMadeOnly = opts.reportConnects === true && !opts.alsoAnswers && opts.tcp !== false;
    // The syscall hooks stay in the list: the tracer attaches them only with connectErrors.
    if (asMadeOnly) tracerOpts.programs = SYSCALL_PROGRAMS;
    if (opts.tcp === false) tracerOpts.programs = [];
    let tracer = new TcpConnectTracer(tracerOpts);
    if (asMadeOnly && !tracer.connectsReported) {
      // No sockops hook (no CAP_NET_ADMIN, no cgroup v2): connects are reported when answered, by the state tracepoint.
      const { programs: _without, ...withState } = tracerOpts;
      tracer.close();
      tracer = new TcpConnectTracer(withState);
    }
    const agent = new LocalAgent(tracer, resolver, opts);
    resolver.cgroupName = (id) => tracer.cgroupName(id);
    if (filterByCgroup) {
      // New containers: their cgroup appears before their first process runs.
      agent.stopWatch = resolver.watch((entry: CgroupEntry, info: ContainerInfo) => {
        if (!agent.stopped) tracer.markCgroup(entry.cgroupId, wanted(info));
      });
      agent.classify = (cgroupId, container) => {
        if (!agent.stopped) tracer.markCgroup(cgroupId, container !== null && wanted(container));
      };
    }
    const clock = new BootClock();
    tracer.start(
      (event, cursor) => agent.accept(event, cursor, clock, onEvent),
      (err) => agent.fail(err),
      onRecord ? (data, bytes, offset) => agent.acceptRecord(data, bytes, offset, clock, onRecord) : undefined,
    );
    agent.lostTimer = setInterval(() => agent.checkLost(), opts.lostCheckMs ?? 1000);
    return agent;
  }

  private accept(event: ConnectEvent, cursor: number, clock: BootClock, onEvent: (e: EnrichedEvent) => void): void {
    const time = clock.toDate(event.tsNs);
    const known = this.resolver.cached(event.cgroupId);
    // The common case without a closure per event (a connect storm delivers tens of thousands a second).
    if (known !== undefined && this.queued === 0) {
      this.deliver(event, time, cursor, known, onEvent);
      return;
    }
    // Unknown cgroup: ask the runtime, keeping later events behind this one.
    this.queued++;
    const resolving = this.resolver.resolve(event.cgroupId).then((container) => {
      this.classify?.(event.cgroupId, container);
      return container;
    });
    this.chain = this.chain
      .then(() => resolving)
      .then((container) => this.deliver(event, time, cursor, container, onEvent))
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        this.queued--;
      });
  }

  /** The record path (RecordConsumer): true when the record was taken (delivered or filtered out), false to have it decoded. */
  private acceptRecord(data: DataView, bytes: Uint8Array, offset: number, clock: BootClock, onRecord: RecordConsumer): boolean {
    // Behind a connect waiting for its container, the others wait too, in order (accept()).
    if (this.queued !== 0) return false;
    const timeMs = clock.epochMsAt(data, offset + TS_AT);
    const container = this.resolver.cached(cgroupIdAt(data, offset + CGROUP_AT), timeMs);
    if (container === undefined) return false;
    if (this.wanted(container)) onRecord(data, bytes, offset, container, timeMs);
    return true;
  }

  /** Whether a connect of this container (null: a host process) is delivered (deliver()'s filter). */
  private wanted(container: ContainerInfo | null): boolean {
    return !(
      (container === null && !this.opts.host && this.opts.pids === undefined) || // containers only
      (this.opts.containerName !== undefined && container?.name !== this.opts.containerName)
    );
  }

  private deliver(event: ConnectEvent, time: Date, cursor: number, container: ContainerInfo | null, onEvent: (e: EnrichedEvent) => void): void {
    const tracer = this.tracer;
    const pinned = tracer.ringId !== undefined && cursor >= 0;
    if (!this.wanted(container)) {
      if (pinned) tracer.settle(cursor);
      return;
    }
    onEvent(pinned ? { event, container, time, cursor: { ring: tracer.ringId!, pos: cursor }, settle: () => tracer.settle(cursor) } : { event, container, time });
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.opts.onError?.(err);
  }

  private checkLost(): void {
    if (this.tracer.closed) return;
    const { lost } = this.tracer.counters();
    if (lost > this.lastLost) {
      this.opts.onLost?.(lost - this.lastLost, lost);
      this.lastLost = lost;
    }
  }

  counters(): TracerCounters {
    return this.tracer.counters();
  }

  get eventsReceived(): number {
    return this.tracer.eventsReceived;
  }

  /** The tracepoint programs attached (the syscall hooks only with connectErrors). */
  get programs(): readonly string[] {
    return this.tracer.programs;
  }

  /** reportConnects: whether connects are reported as made (else when answered, and why). */
  get connectReporting(): { reported: boolean; problem?: string } {
    return { reported: this.tracer.connectsReported, ...(this.tracer.connectsProblem ? { problem: this.tracer.connectsProblem } : {}) };
  }

  /** reportConnectsOnDemand: attaches or detaches the sockops hook (TcpConnectTracer.setReportConnects). */
  setReportConnects(on: boolean): { reported: boolean; problem?: string } {
    return this.tracer.setReportConnects(on);
  }

  /** CLOCK_BOOTTIME ns since which connects are reported as made (TcpConnectTracer.reportingSinceNs). */
  get reportingSinceNs(): bigint | undefined {
    return this.tracer.reportingSinceNs;
  }

  /** udp: whether UDP sends are observed (every UDP hook attached), else why not. */
  get udpReporting(): { observed: boolean; problem?: string } {
    return { observed: this.tracer.udpObserved, ...(this.tracer.udpProblem ? { problem: this.tracer.udpProblem } : {}) };
  }

  /** Pinned: where, whether the programs were found running, records skipped as already journaled. */
  get pinning(): { dir: string; reopened: boolean; resumeSkipped: number; unsettled: number; unprotected: number } | undefined {
    const t = this.tracer;
    return t.pinDir ? { dir: t.pinDir.path, reopened: t.reopened, resumeSkipped: t.resumeSkipped, unsettled: t.unsettled, unprotected: t.unprotected } : undefined;
  }

  /** Removes the pins (the agent is removed for good); see TcpConnectTracer.unpin. */
  unpin(): void {
    this.tracer.unpin();
  }

  /** The kernel's table of edges judged allowed (allowed-edges.ts); undefined once stopped. */
  get allowedEdges(): TcpConnectTracer['allowedEdges'] | undefined {
    return this.tracer.closed ? undefined : this.tracer.allowedEdges;
  }

  /** Connects other pinned objects counted in their allowed_edges and never handed over (tracer.ts). */
  get orphanedAllowed(): number {
    return this.tracer.orphanedAllowed;
  }

  /** learn mode: every edge seen in the kernel with its connect count. */
  edges(): ReturnType<TcpConnectTracer['edges']> {
    return this.tracer.edges();
  }

  /** An error raised while enriching or delivering an event, if any. */
  get error(): unknown {
    return this.failure;
  }

  /**
   * Delivers what is still in the ring buffer, waits for pending enrichment, then detaches and
   * closes everything. Returns the final counters. Idempotent.
   */
  async stop(): Promise<TracerCounters> {
    if (this.stopped) return this.finalCounters ?? { lost: 0, untracked: 0, deduped: 0 };
    this.stopped = true;
    this.stopWatch?.();
    if (this.lostTimer) clearInterval(this.lostTimer);
    try {
      if (!this.tracer.closed) {
        this.tracer.drain();
        // Enrichment of queued events may still ask the kernel for cgroup names: keep maps open.
        await this.chain;
        this.checkLost();
        this.finalCounters = this.tracer.counters();
      }
    } finally {
      this.tracer.close();
    }
    await this.chain;
    return this.finalCounters ?? { lost: 0, untracked: 0, deduped: 0 };
  }
  private finalCounters: TracerCounters | undefined;
}
