/**
 * The tcpconnect tracer: loads bpf/tcpconnect.bpf.o, fills its filter maps, attaches the three
 * tracepoints and drains the ring buffer in batches on timers, so a connect storm never blocks
 * the event loop for long. Lost events (ring buffer full) are counted in the kernel; read them
 * with counters(). Always call close() (it is idempotent); closeOnExit() wires it to signals.
 */
import { closeSync, existsSync, openSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvironmentError } from '../errors.js';
import { BpfMap, BpfObject, closeFd, linkSockops, MappedRingBuffer, openPinned, pinFd, possibleCpus } from './libbpf.js';
import { bootTimeNs } from './clock.js';
import { otherPinDirs, PinDir, pinHash, type PinOptions } from './pins.js';
import { canLoadNetPrograms, preflight } from './diagnose.js';
import { AllowedEdgesMap } from './allowed-edges.js';
import { cgroup2Root } from './mounts.js';
import {
  type ConnectEvent,
  type EdgeKey,
  EDGE_KEY_SIZE,
  FILTER_CGROUP,
  FILTER_DPORT,
  FILTER_NETNS,
  FILTER_PID,
  decodeEdgeKey,
  decodeEventAt,
  encodeConfig,
} from './event.js';

export interface TracerOptions {
  /**
   * Filter by cgroup: these ids are traced, the `ignoredCgroups` are dropped in the kernel, and
   * cgroups not classified yet are reported (classify them with markCgroup). Omit: all.
   */
  cgroups?: Iterable<bigint>;
  ignoredCgroups?: Iterable<bigint>;
  /** Only these processes (thread-group ids). */
  pids?: Iterable<number>;
  /** Only sockets in these network namespaces (inode numbers). */
  netns?: Iterable<number>;
  /** Only these destination ports. */
  dports?: Iterable<number>;
  /** learn mode: one event per edge (cgroup, netns, daddr, dport, outcome); repeats only counted. */
  dedupEdges?: boolean;
  /**
   * Report each connect as it is made (outcome `connecting`, from the sockops program on the cgroup
   * v2 root) instead of when it is answered, as `ig trace tcpconnect` does without --latency. When
   * the sockops program cannot be attached, connects are reported when answered, as without this
   * option: `connectsReported` says which happened and `connectsProblem` why.
   */
  reportConnects?: boolean;
  /**
   * With reportConnects: report each connect twice, as made (`connecting`) and when answered (with
   * latency and outcome), so one tracer serves clients of both kinds (the node agent). Without the
   * sockops hook, only the answers come.
   */
  alsoAnswers?: boolean;
  /**
   * With reportConnects: load the sockops program but leave it detached until
   * setReportConnects(true) asks for it (the node agent attaches it only while a client wants
   * connects as made: it costs kernel time on every connect, and its events user-space time).
   */
  reportConnectsOnDemand?: boolean;
  /**
   * Also report UDP: each socket's first datagram to each destination (outcome `sent`, proto UDP),
   * from cgroup/connect4|6 and cgroup/sendmsg4|6 on the cgroup v2 root. A socket's replies (sends
   * to a peer it received from first, seen by cgroup/recvmsg4|6) are not reported, only counted
   * (udpReplies). Needs CAP_NET_ADMIN.
   */
  udp?: boolean;
  /**
   * With `udp`: when the UDP hooks cannot be loaded or attached (no CAP_NET_ADMIN, no cgroup v2),
   * trace TCP only instead of failing; `udpObserved` then says false and `udpProblem` why
   * (`learn` records by default with UDP, and marks its recording when it could not).
   */
  udpOptional?: boolean;
  /** Ring buffer size in bytes (power of two, ≥ 4096). Default 4 MiB. */
  ringBytes?: number;
  /** Events handed to the callback per drain before yielding to the event loop. Default 2048. */
  batch?: number;
  /** Drain interval while events flow, ms. Default 5; it backs off to `idlePollMs` while idle. */
  pollMs?: number;
  /** Longest drain interval while idle, ms. Default 50 (a 4 MiB ring holds ~37,000 events). */
  idlePollMs?: number;
  /** Path of tcpconnect.bpf.o. Default: bpf/ of this package (or $NETPOL_BPF_DIR). */
  objectPath?: string;
  /**
   * Programs to attach (default all; the syscall hooks among them only with `connectErrors`).
   * bench/connect-storm-breakdown.ts uses this to measure each hook's cost.
   */
  programs?: readonly TcpConnectProgram[];
  /**
   * Also report connect() calls that fail before any SYN is sent (outcome `error`: ENETUNREACH,
   * EADDRNOTAVAIL, ...), through the syscalls:sys_{enter,exit}_connect tracepoints. Off by default:
   * attaching a syscall tracepoint puts every syscall of every task of the host on the tracepoint
   * slow path (SYSCALL_WORK_SYSCALL_TRACEPOINT), ~2 µs a connect in a loopback connect storm, and
   * `ig trace tcpconnect` does not report such calls either (its kretprobe skips a failed
   * tcp_v4_connect). Without it, SYSCALL_PROGRAMS are left out of `programs`.
   */
  connectErrors?: boolean;
  /**
   * Keep the kernel side across restarts (pins.ts): reopen the pinned object this tracer would load,
   * else load it and pin it. The ring buffer is then freed only as far as settle() says records are
   * safe (journaled): a reader killed in between leaves them for the next one.
   */
  pin?: PinOptions;
}

/**
 * Takes a record as it lies in the ring (struct tcpconnect_event at `offset`; valid during the call
 * only), before it is decoded: true when it took it, false to have it decoded and handed to the
 * event callback. `trace -o json` writes its lines from the bytes (cli/output/trace-json.ts).
 */
export type RecordHandler = (data: DataView, bytes: Uint8Array, offset: number) => boolean;

export interface TracerCounters {
  /** Events dropped because the ring buffer was full. */
  lost: number;
  /** Connects not followed because the pending-handshake map was full. */
  untracked: number;
  /** learn mode: connects of already reported edges (not sent to user space). */
  deduped: number;
}

/** Maps the agent uses (pinned with the links; the events ring last, marking the directory complete). */
const PINNED_MAPS = ['counters', 'cgroup_filter', 'pid_filter', 'netns_filter', 'dport_filter', 'edges', 'cgroup_names', 'allowed_edges', 'allowed_state', 'allowed_reported'] as const;

export function defaultObjectPath(): string {
  if (process.env.NETPOL_BPF_DIR) return join(process.env.NETPOL_BPF_DIR, 'tcpconnect.bpf.o');
  // src/agent/tracer.ts and dist/agent/tracer.js are both two levels below the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bpf', 'tcpconnect.bpf.o');
}

const DEFAULT_RING_BYTES = 4 * 1024 * 1024;
const IDLE_POLL_MS = 50;
export const PROGRAMS = ['handle_set_state', 'handle_exit_connect', 'handle_enter_connect'] as const;
export type TcpConnectProgram = (typeof PROGRAMS)[number];
/** The syscall tracepoint programs: attached only with TracerOptions.connectErrors. */
export const SYSCALL_PROGRAMS: readonly TcpConnectProgram[] = ['handle_exit_connect', 'handle_enter_connect'];

/** The tracepoint programs a tracer with these options attaches. */
export function tracepointPrograms(opts: Pick<TracerOptions, 'programs' | 'connectErrors'>): TcpConnectProgram[] {
  return (opts.programs ?? PROGRAMS).filter((p) => opts.connectErrors === true || !SYSCALL_PROGRAMS.includes(p));
}
/** Reports connects as they are made (TracerOptions.reportConnects); loaded only then. */
const SOCKOPS_PROGRAM = 'handle_sockops';
/**
 * UDP sends (TracerOptions.udp); loaded only then. The recvmsg hooks note the peers a socket heard
 * from first, so that its answers to them (a DNS server's replies) are not reported as its sends.
 */
const UDP_PROGRAMS = [
  'handle_udp_connect4',
  'handle_udp_connect6',
  'handle_udp_sendmsg4',
  'handle_udp_sendmsg6',
  'handle_udp_recvmsg4',
  'handle_udp_recvmsg6',
] as const;

export class TcpConnectTracer {
  /** The loaded object; undefined when the pinned one was reopened. */
  private readonly obj: BpfObject | undefined;
  private isClosed = false;
  /** Pinned: where, and the ring's identity (RingMark.ring). */
  readonly pinDir: PinDir | undefined;
  readonly ringId: string | undefined;
  /** Pinned: whether the pinned programs were found running (a restart) rather than loaded now. */
  readonly reopened: boolean = false;
  /** Records skipped on reopen because the previous agent had journaled them (resumeAfter). */
  readonly resumeSkipped: number = 0;
  /** Records of other pinned objects (older versions) that could not be decoded, or lost by them. */
  private legacyLost = 0;
  /**
   * Connects other pinned objects (taken over at start) counted in their allowed_edges and their
   * agent never handed over (count - reported): counted, never attributed (the node agent's
   * kernel de-duplication reports them as orphaned).
   */
  orphanedAllowed = 0;
  /** Another version's pinned ring, drained before ours (its programs already detached). */
  private legacy: { dir: PinDir; ring: MappedRingBuffer; maps: BpfMap[] }[] = [];
  private readonly reopenedMaps: BpfMap[] = [];
  /** Pinned: end positions of records handed out and not yet settled, oldest first. */
  private ends: number[] = [];
  private settledFlags: boolean[] = [];
  private head = 0;
  /**
   * Pinned: how far the ring may be freed (settled records), not yet committed. Commits wait for the
   * end of the drain batch (or of the event-loop turn, for records settled later), and call
   * PinOptions.beforeFree first: the sinks write what they buffered for the batch in one go.
   */
  private freeTo = -1;
  private freeSoon: NodeJS.Immediate | undefined;
  private draining = false;
  private beforeFree: (() => void) | undefined;
  /**
   * Pinned: records freed before they were settled, because the unsettled ones held more than half
   * the ring (a connect held for its pod, up to 10 s, with a storm behind it): the kernel would
   * otherwise drop new records. They are processed all the same; only a SIGKILL before they are
   * journaled would lose them. Shown in status, never silent.
   */
  unprotected = 0;
  private readonly ring: MappedRingBuffer;
  private readonly countersMap: BpfMap;
  private readonly cgroupMap: BpfMap;
  private readonly pidMap: BpfMap;
  private readonly netnsMap: BpfMap;
  private readonly dportMap: BpfMap;
  private readonly edgesMap: BpfMap;
  private readonly cgroupNamesMap: BpfMap;
  /** Edges judged allowed, counted in the kernel (allowed-edges.ts; the node agent's de-duplication). */
  readonly allowedEdges: AllowedEdgesMap;
  private readonly batch: number;
  private readonly pollMs: number;
  private readonly idlePollMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** `cursor`: the record's end in the ring (settle() it when pinned); -1 for an older object's record. */
  private handler: ((e: ConnectEvent, cursor: number) => void) | undefined;
  private handlerError: unknown;
  private received = 0;
  /** reportConnects: the sockops program, loaded (owned by obj) or reopened from its pin (owned here). */
  private sockopsProg: number | undefined;
  private sockopsProgOwned = false;
  /** The sockops program's link while it is attached (held here; also pinned when pinned). */
  private sockopsLink: number | undefined;
  private sockopsProblem: string | undefined;
  /** Pinned: the directory is complete, so a link attached now is pinned at once. */
  private pinsReady = false;
  /**
   * CLOCK_BOOTTIME ns (the events' clock) taken just after the sockops program was last attached:
   * a connect whose SYN went out before it (event tsNs < this) may not have been reported as made.
   * 0n when a reopened pinned link was found attached (since some time before).
   */
  reportingSinceNs: bigint | undefined;
  /** The tracepoint programs attached (tracepointPrograms: the syscall hooks only with connectErrors). */
  readonly programs: readonly TcpConnectProgram[];
  /** udp: true once every UDP hook is attached (each socket's first datagram per destination is reported). */
  readonly udpObserved: boolean = false;
  /** udpOptional: why UDP is not observed (a hook could not be loaded or attached). */
  readonly udpProblem: string | undefined;

  constructor(opts: TracerOptions = {}) {
    preflight();
    const path = opts.objectPath ?? defaultObjectPath();
    if (!existsSync(path)) {
      throw new EnvironmentError(`the BPF object ${path} has not been built`, 'build it: make -C bpf (needs clang, llvm, libbpf-dev, bpftool; scripts/setup.sh installs them)');
    }
    const filters =
      (opts.cgroups ? FILTER_CGROUP : 0) | (opts.pids ? FILTER_PID : 0) | (opts.netns ? FILTER_NETNS : 0) | (opts.dports ? FILTER_DPORT : 0);
    this.programs = tracepointPrograms(opts);
    this.batch = opts.batch ?? 2048;
    this.pollMs = opts.pollMs ?? 5;
    this.idlePollMs = Math.max(this.pollMs, opts.idlePollMs ?? IDLE_POLL_MS);
    // The sockops program needs CAP_NET_ADMIN to load; without it, connects are reported when answered.
    const sockops = (opts.reportConnects ?? false) && canLoadNetPrograms();
    const noSockops = 'the sockops hook needs CAP_NET_ADMIN (or root)';
    let udp = opts.udp ?? false;
    if (udp && !canLoadNetPrograms()) {
      if (!opts.udpOptional) {
        throw new EnvironmentError('tracing UDP needs CAP_NET_ADMIN (its hooks are cgroup programs)', 'run as root, or also grant CAP_NET_ADMIN');
      }
      udp = false;
      this.udpProblem = 'its hooks are cgroup programs, which need CAP_NET_ADMIN';
    }
    const rodata = encodeConfig({
      filters,
      dedupEdges: opts.dedupEdges ?? false,
      reportConnects: opts.reportConnects ?? false,
      alsoAnswers: opts.alsoAnswers ?? false,
      stateAttached: this.programs.includes('handle_set_state'),
    });
    const load = (withUdp: boolean): BpfObject =>
      BpfObject.load(path, {
        rodata,
        maxEntries: { events: opts.ringBytes ?? DEFAULT_RING_BYTES },
        // `udp`, not opts.udp: without CAP_NET_ADMIN optional UDP is off already, and loading its
        // cgroup programs would fail the whole object (EPERM).
        skipPrograms: [...(sockops ? [] : [SOCKOPS_PROGRAM]), ...(withUdp ? [] : UDP_PROGRAMS)],
      });
    const ringBytes = opts.ringBytes ?? DEFAULT_RING_BYTES;
    let pinDir: PinDir | undefined;
    if (opts.pin) {
      this.beforeFree = opts.pin.beforeFree;
      const fixed = {
        rodata: rodata.toString('hex'),
        ringBytes,
        programs: this.programs,
        sockops,
        // On demand, the program is pinned too (prog_handle_sockops): directories of before had none.
        ...(opts.reportConnectsOnDemand ? { sockopsOnDemand: true } : {}),
        udp,
      };
      pinDir = PinDir.forHash(opts.pin.root, pinHash(path, fixed));
      // Left by an agent that died while pinning: nothing else can reach its ring.
      if (existsSync(pinDir.path) && !pinDir.complete) pinDir.remove();
      this.pinDir = pinDir;
    }
    if (pinDir?.complete) {
      // A restart: the programs have been running all along; read on where the last reader stopped.
      this.obj = undefined;
      this.reopened = true;
      const m = (name: string): BpfMap => {
        const map = BpfMap.fromPin(name, pinDir.mapPath(name));
        this.reopenedMaps.push(map);
        return map;
      };
      let ring: MappedRingBuffer | undefined;
      try {
        this.countersMap = m('counters');
        this.cgroupMap = m('cgroup_filter');
        this.pidMap = m('pid_filter');
        this.netnsMap = m('netns_filter');
        this.dportMap = m('dport_filter');
        this.edgesMap = m('edges');
        this.cgroupNamesMap = m('cgroup_names');
        // allowed_reported: absent from directories pinned before it existed.
        this.allowedEdges = new AllowedEdgesMap(m('allowed_edges'), m('allowed_state'), existsSync(pinDir.mapPath('allowed_reported')) ? m('allowed_reported') : undefined);
        ring = new MappedRingBuffer(m('events').fd, ringBytes, true);
        this.ring = ring;
        this.ringId = pinDir.ringId();
        const mark = opts.pin?.resumeAfter;
        if (mark && mark.ring === this.ringId) this.resumeSkipped = ring.skipTo(mark.pos);
        this.configure(opts);
      } catch (err) {
        ring?.close();
        for (const map of this.reopenedMaps) map.close();
        throw err;
      }
      const linked = pinDir.linkedPrograms();
      this.pinsReady = true;
      if (opts.reportConnects) {
        try {
          if (sockops && existsSync(pinDir.programPath(SOCKOPS_PROGRAM))) {
            this.sockopsProg = openPinned(pinDir.programPath(SOCKOPS_PROGRAM));
            this.sockopsProgOwned = true;
          }
          if (linked.includes(SOCKOPS_PROGRAM)) {
            this.sockopsLink = openPinned(pinDir.linkPath(SOCKOPS_PROGRAM));
            this.reportingSinceNs = 0n;
          }
        } catch (err) {
          this.sockopsProblem = (err as Error).message;
        }
        if (this.sockopsLink === undefined && !opts.reportConnectsOnDemand) {
          this.sockopsProblem ??= sockops ? 'the agent that pinned the programs could not attach the sockops hook' : noSockops;
        } else if (this.sockopsProg === undefined) this.sockopsProblem ??= sockops ? 'the pinned sockops program was not found' : noSockops;
      }
      if (opts.udp) {
        this.udpObserved = UDP_PROGRAMS.every((p) => linked.includes(p));
        if (!this.udpObserved) this.udpProblem ??= 'the agent that pinned the programs could not attach every UDP hook';
      }
      this.takeOverOthers(opts.pin!.root, pinDir);
      return;
    }
    let obj: BpfObject;
    try {
      obj = load(udp);
    } catch (err) {
      // The UDP programs may be what the kernel refused (they need newer helpers than the rest):
      // optional UDP falls back to TCP only, and says why.
      if (!udp || !opts.udpOptional) throw err;
      obj = load(false);
      udp = false;
      this.udpProblem = `the UDP programs could not be loaded: ${(err as Error).message}`;
    }
    this.obj = obj;
    let ring: MappedRingBuffer | undefined;
    try {
      this.countersMap = obj.map('counters');
      this.cgroupMap = obj.map('cgroup_filter');
      this.pidMap = obj.map('pid_filter');
      this.netnsMap = obj.map('netns_filter');
      this.dportMap = obj.map('dport_filter');
      this.edgesMap = obj.map('edges');
      this.cgroupNamesMap = obj.map('cgroup_names');
      this.allowedEdges = new AllowedEdgesMap(obj.map('allowed_edges'), obj.map('allowed_state'), obj.map('allowed_reported'));
      this.configure(opts);
      ring = new MappedRingBuffer(obj.map('events').fd, ringBytes, pinDir !== undefined);
      this.ring = ring;
      for (const prog of this.programs) obj.attach(prog);
      if (opts.reportConnects) {
        if (sockops) {
          this.sockopsProg = obj.programFd(SOCKOPS_PROGRAM);
          if (!opts.reportConnectsOnDemand) this.sockopsProblem = this.attachSockops();
        } else this.sockopsProblem = noSockops;
      }
      if (udp) {
        let problem: string | undefined;
        for (const prog of UDP_PROGRAMS) {
          problem = this.attachToCgroupRoot(prog);
          if (problem) break;
        }
        if (problem && !opts.udpOptional) throw new EnvironmentError(`cannot trace UDP: ${problem}`);
        // A hook attached before one failed keeps reporting (what it reports is real), but UDP is
        // not said to be observed: some sends would be missing.
        this.udpObserved = problem === undefined;
        this.udpProblem = problem;
      }
      if (pinDir) {
        pinDir.create();
        // Before the events map (the mark of a complete directory).
        if (this.sockopsProg !== undefined) pinFd(this.sockopsProg, pinDir.programPath(SOCKOPS_PROGRAM));
        if (this.sockopsLink !== undefined) pinFd(this.sockopsLink, pinDir.linkPath(SOCKOPS_PROGRAM));
        obj.pin(pinDir.path, PINNED_MAPS, 'events');
        this.ringId = pinDir.ringId();
        this.pinsReady = true;
      }
    } catch (err) {
      ring?.close();
      if (this.sockopsLink !== undefined) closeFd(this.sockopsLink);
      this.sockopsLink = undefined;
      obj.close();
      // Half-pinned: remove it, the next agent starts over.
      if (pinDir && !pinDir.complete) pinDir.remove();
      throw err;
    }
    if (pinDir) this.takeOverOthers(opts.pin!.root, pinDir);
  }

  private configure(opts: TracerOptions): void {
    for (const id of opts.cgroups ?? []) this.markCgroup(id, true);
    for (const id of opts.ignoredCgroups ?? []) this.markCgroup(id, false);
    for (const pid of opts.pids ?? []) this.pidMap.update(u32(pid), ONE);
    for (const ns of opts.netns ?? []) this.netnsMap.update(u32(ns), ONE);
    for (const port of opts.dports ?? []) this.dportMap.update(u16(port), ONE);
  }

  /**
   * Other pinned objects (an older agent version, other settings), now that ours records: their
   * programs are detached, then what their rings hold is delivered before our own records (same
   * record layout), or counted as lost (another layout: it cannot be read), and their pins go.
   * A connect made while both were attached may be delivered twice (counted twice, never lost).
   */
  private takeOverOthers(root: string, mine: PinDir): void {
    for (const dir of otherPinDirs(root, mine)) {
      if (!dir.complete) {
        dir.remove();
        continue;
      }
      const maps: BpfMap[] = [];
      try {
        dir.unlinkPrograms();
        this.countOrphanedAllowed(dir);
        const events = BpfMap.fromPin('events', dir.mapPath('events'));
        maps.push(events);
        const counters = BpfMap.fromPin('counters', dir.mapPath('counters'));
        maps.push(counters);
        const ncpu = possibleCpus();
        const v = counters.lookup(u32(0), 8 * ncpu);
        if (v) for (let i = 0; i < ncpu; i++) this.legacyLost += Number(v.readBigUInt64LE(i * 8));
        const ring = new MappedRingBuffer(events.fd, events.maxEntries());
        if (dir.sameLayout) {
          this.legacy.push({ dir, ring, maps });
          continue;
        }
        while (ring.consume(() => this.legacyLost++, 1 << 20).more) {
          /* counted */
        }
        ring.close();
      } catch {
        // Unreadable: its programs are detached all the same; what it held cannot be counted.
      }
      for (const map of maps) map.close();
      dir.remove();
    }
  }

  /**
   * A taken-over object's table of allowed edges (its programs are detached: the counts are final):
   * what its agent did not hand over. A cleanly stopped agent swept and emptied it; one that
   * crashed left counts. The key and value layout have not changed since the table was added (a
   * change must be recognised here); a directory without the table (pinned before it) had none.
   */
  private countOrphanedAllowed(dir: PinDir): void {
    if (!existsSync(dir.mapPath('allowed_edges')) || !existsSync(dir.mapPath('allowed_state'))) return;
    const maps: BpfMap[] = [];
    try {
      const open = (name: string): BpfMap => {
        const map = BpfMap.fromPin(name, dir.mapPath(name));
        maps.push(map);
        return map;
      };
      const table = new AllowedEdgesMap(open('allowed_edges'), open('allowed_state'), existsSync(dir.mapPath('allowed_reported')) ? open('allowed_reported') : undefined);
      for (const row of table.counts()) this.orphanedAllowed += Math.max(0, row.count - (table.reported(row.key) ?? 0));
    } catch {
      // Unreadable: what it counted cannot be known (its pins go all the same).
    }
    for (const map of maps) map.close();
  }

  /** Attaches the loaded (or reopened) sockops program; returns why it could not, or undefined. */
  private attachSockops(): string | undefined {
    const prog = this.sockopsProg;
    if (prog === undefined) return this.sockopsProblem ?? 'the sockops program is not loaded';
    let link = -1;
    const problem = this.onCgroupRoot('the sockops hook', (cgroup) => {
      link = linkSockops(prog, cgroup);
    });
    if (problem !== undefined) return problem;
    if (this.pinDir && this.pinsReady) {
      try {
        pinFd(link, this.pinDir.linkPath(SOCKOPS_PROGRAM));
      } catch (err) {
        closeFd(link);
        return (err as Error).message;
      }
    }
    this.sockopsLink = link;
    this.reportingSinceNs = bootTimeNs();
    return undefined;
  }

  /**
   * reportConnects: attaches (true) or detaches (false) the sockops program at run time; pinned,
   * its link's pin follows, so a restarted agent finds it as the last one left it. Answers are
   * reported either way (alsoAnswers). Returns the state now (reported, else why not).
   */
  setReportConnects(on: boolean): { reported: boolean; problem?: string } {
    if (!this.isClosed) {
      if (on && this.sockopsLink === undefined) this.sockopsProblem = this.attachSockops();
      else if (!on && this.sockopsLink !== undefined) {
        if (this.pinDir) {
          try {
            unlinkSync(this.pinDir.linkPath(SOCKOPS_PROGRAM));
          } catch (err) {
            // The pin stays, so the link stays attached: say so (this runs from a timer, where a
            // throw would stop the agent with the link still open).
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
              return { reported: true, problem: `cannot detach the sockops hook: removing its pin: ${(err as Error).message}` };
            }
          }
        }
        // The last reference: the kernel detaches the program.
        closeFd(this.sockopsLink);
        this.sockopsLink = undefined;
        this.reportingSinceNs = undefined;
        this.sockopsProblem = undefined;
      }
    }
    return { reported: this.connectsReported, ...(this.sockopsProblem ? { problem: this.sockopsProblem } : {}) };
  }

  /** reportConnects: true while the sockops program is attached (connects reported as made). */
  get connectsReported(): boolean {
    return this.sockopsLink !== undefined;
  }

  /** reportConnects: why connects are reported when answered only (undefined when merely not asked for). */
  get connectsProblem(): string | undefined {
    return this.connectsReported ? undefined : this.sockopsProblem;
  }

  /** Attaches a cgroup program to the cgroup v2 root; returns why it could not, or undefined. */
  private attachToCgroupRoot(program: string): string | undefined {
    return this.onCgroupRoot(`the ${program} program`, (cgroup) => this.obj!.attachCgroup(program, cgroup));
  }

  /** Runs `attach` with the cgroup v2 root open (`what` attaches to it); returns why it could not, or undefined. */
  private onCgroupRoot(what: string, attach: (cgroupFd: number) => void): string | undefined {
    const root = cgroup2Root();
    if (!root) return `no cgroup v2 hierarchy is mounted (${what} attaches to its root)`;
    let fd: number;
    try {
      fd = openSync(root, 'r');
    } catch (err) {
      return `cannot open the cgroup v2 root ${root}: ${(err as Error).message}`;
    }
    try {
      attach(fd);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    } finally {
      closeSync(fd);
    }
  }

  /** Starts delivering events to `onEvent` (from timers on the event loop). */
  /**
   * `onError` gets what the event callback (or reading the ring) threw; the tracer has then
   * stopped delivering and detached itself. Without it, the error is thrown from the timer.
   * `onRecord` (not pinned) is offered each record first, undecoded (RecordHandler).
   */
  start(onEvent: (e: ConnectEvent, cursor: number) => void, onError?: (err: unknown) => void, onRecord?: RecordHandler): void {
    this.handler = onEvent;
    this.onError = onError;
    // Pinned, each record is settled by its cursor through onEvent's consumers: no record path.
    this.recordHandler = this.pinDir ? undefined : onRecord;
    this.schedule(this.pollMs);
  }

  private onError: ((err: unknown) => void) | undefined;
  private recordHandler: RecordHandler | undefined;

  private schedule(ms: number): void {
    if (this.isClosed) return;
    this.timer = ms === 0 ? (setImmediate(() => this.tick()) as unknown as NodeJS.Timeout) : setTimeout(() => this.tick(), ms);
  }

  private idleMs = 0;

  private tick(): void {
    this.timer = undefined;
    if (this.isClosed) return;
    const before = this.received;
    let more: boolean;
    try {
      more = this.drainOnce();
    } catch (err) {
      this.handler = undefined;
      this.close();
      if (!this.onError) throw err;
      this.onError(err);
      return;
    }
    // Idle: back off (a 4 MiB ring holds ~37,000 events, over a second of a connect storm).
    this.idleMs = this.received > before ? this.pollMs : Math.min(Math.max(this.idleMs, this.pollMs) * 2, this.idlePollMs);
    this.schedule(more ? 0 : this.idleMs);
  }

  /** One batch; true when more events are waiting. */
  private drainOnce(): boolean {
    while (this.legacy.length > 0) {
      const old = this.legacy[0]!;
      const r = old.ring.consume(this.onLegacyRecord, this.batch);
      this.received += r.count;
      if (r.more) return true;
      old.ring.close();
      for (const map of old.maps) map.close();
      old.dir.remove();
      this.legacy.shift();
    }
    this.draining = true;
    let count: number;
    let more: boolean;
    try {
      ({ count, more } = this.ring.consume(this.onRecord, this.batch));
    } finally {
      this.draining = false;
    }
    this.received += count;
    this.commitFreed();
    if (this.pinDir && this.ring.read - this.ring.committed > this.ring.size / 2) this.relieve();
    if (this.handlerError !== undefined) {
      const err = this.handlerError;
      this.handlerError = undefined;
      throw err;
    }
    return more;
  }

  private readonly onRecord = (data: DataView, bytes: Uint8Array, offset: number, _length: number, end: number): void => {
    if (!this.handler) return;
    if (this.pinDir) {
      this.ends.push(end);
      this.settledFlags.push(false);
    }
    try {
      if (this.recordHandler !== undefined && this.recordHandler(data, bytes, offset)) return;
      this.handler(decodeEventAt(data, bytes, offset), end);
    } catch (err) {
      this.handlerError ??= err;
    }
  };

  /** An older pinned ring's records: delivered, freed at once (its pins go when it is empty). */
  private readonly onLegacyRecord = (data: DataView, bytes: Uint8Array, offset: number): void => {
    if (!this.handler) return;
    try {
      this.handler(decodeEventAt(data, bytes, offset), -1);
    } catch (err) {
      this.handlerError ??= err;
    }
  };

  /**
   * Pinned: the record ending at `end` (the cursor its handler was given) is safe — journaled, or
   * of no use to any sink — so the ring may free it once every record before it is safe too.
   * Records are settled in any order; the ring is freed over the longest settled prefix.
   */
  settle(end: number): void {
    if (!this.pinDir || this.isClosed || end < 0) return;
    let lo = this.head;
    let hi = this.ends.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.ends[mid]!;
      if (v === end) {
        this.settledFlags[mid] = true;
        break;
      }
      if (v < end) lo = mid + 1;
      else hi = mid - 1;
    }
    let free = -1;
    while (this.head < this.ends.length && this.settledFlags[this.head]) free = this.ends[this.head++]!;
    if (free >= 0) {
      this.freeTo = free;
      if (!this.draining) this.freeSoon ??= setImmediate(() => this.commitFreed());
    }
    if (this.head === this.ends.length) {
      this.ends = [];
      this.settledFlags = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.ends.length) {
      this.ends = this.ends.slice(this.head);
      this.settledFlags = this.settledFlags.slice(this.head);
      this.head = 0;
    }
  }

  /** Frees the ring up to the settled prefix, once the sinks have written what they buffered. */
  private commitFreed(): void {
    if (this.freeSoon) clearImmediate(this.freeSoon);
    this.freeSoon = undefined;
    if (this.freeTo < 0 || this.isClosed) return;
    const free = this.freeTo;
    this.beforeFree?.();
    this.freeTo = -1;
    this.ring.commit(free);
  }

  /** Pinned, under ring pressure: frees everything read so far (see `unprotected`). */
  private relieve(): void {
    this.beforeFree?.();
    this.freeTo = -1;
    for (let i = this.head; i < this.ends.length; i++) if (!this.settledFlags[i]) this.unprotected++;
    this.ends = [];
    this.settledFlags = [];
    this.head = 0;
    this.ring.commit(this.ring.read);
  }

  /** Pinned: records handed out and not yet settled. */
  get unsettled(): number {
    return this.ends.length - this.head;
  }

  /**
   * Removes the pins (the agent is removed for good): the programs detach once this process lets
   * go of them, and nothing of netpol stays in the kernel. Safe after close().
   */
  unpin(): void {
    this.pinDir?.remove();
  }

  /** Delivers everything already in the ring buffer now (synchronously). */
  drain(): void {
    while (this.drainOnce()) {
      /* keep going */
    }
  }

  /** Events taken out of the ring buffer so far. */
  get eventsReceived(): number {
    return this.received;
  }

  /** With a cgroup filter: trace (true) or drop in the kernel (false) this cgroup's connects. */
  markCgroup(id: bigint, traced: boolean): void {
    this.cgroupMap.update(u64(id), traced ? CGROUP_TRACE : CGROUP_IGNORE);
  }

  /** Forgets a cgroup's mark (its connects are reported again until it is marked). */
  unmarkCgroup(id: bigint): void {
    this.cgroupMap.delete(u64(id));
  }

  /** The directory name of a cgroup that connected (kept by the kernel after the cgroup is gone). */
  cgroupName(id: bigint): string | undefined {
    if (this.isClosed) return undefined;
    const v = this.cgroupNamesMap.lookup(u64(id), CGROUP_NAME_LEN);
    if (!v) return undefined;
    const end = v.indexOf(0);
    return v.subarray(0, end < 0 ? v.length : end).toString('utf8');
  }

  counters(): TracerCounters {
    const ncpu = possibleCpus();
    const read = (idx: number): number => {
      const v = this.countersMap.lookup(u32(idx), 8 * ncpu);
      let sum = 0n;
      if (v) for (let i = 0; i < ncpu; i++) sum += v.readBigUInt64LE(i * 8);
      return Number(sum);
    };
    return { lost: read(0) + this.legacyLost, untracked: read(1), deduped: read(2) };
  }

  /** udp: replies not reported (datagrams sent, or connects, back to a peer the socket received from first). */
  udpReplies(): number {
    const ncpu = possibleCpus();
    const v = this.countersMap.lookup(u32(COUNTER_UDP_REPLIES), 8 * ncpu);
    let sum = 0n;
    if (v) for (let i = 0; i < ncpu; i++) sum += v.readBigUInt64LE(i * 8);
    return Number(sum);
  }

  /** learn mode: every edge the kernel saw, with the number of connects on it. */
  edges(): Array<EdgeKey & { connects: number }> {
    const ncpu = possibleCpus();
    return this.edgesMap.keys(EDGE_KEY_SIZE).flatMap((k) => {
      const v = this.edgesMap.lookup(k, 8 * ncpu); // per-CPU counts
      if (!v) return [];
      let connects = 0n;
      for (let i = 0; i < ncpu; i++) connects += v.readBigUInt64LE(i * 8);
      return [{ ...decodeEdgeKey(k), connects: Number(connects) }];
    });
  }

  /** Stops the timers, delivers what is left, detaches the programs and frees the maps. */
  close(): void {
    if (this.isClosed) return;
    if (this.timer) {
      clearTimeout(this.timer);
      clearImmediate(this.timer as unknown as NodeJS.Immediate);
      this.timer = undefined;
    }
    try {
      if (this.handler) this.drain();
      this.commitFreed();
    } finally {
      if (this.freeSoon) clearImmediate(this.freeSoon);
      this.isClosed = true;
      this.ring.close();
      for (const old of this.legacy.splice(0)) {
        old.ring.close();
        for (const map of old.maps) map.close();
      }
      // Unpinned, this detaches the sockops program; pinned, its pin keeps it attached.
      if (this.sockopsLink !== undefined) closeFd(this.sockopsLink);
      this.sockopsLink = undefined;
      if (this.sockopsProgOwned && this.sockopsProg !== undefined) closeFd(this.sockopsProg);
      this.obj?.close();
      for (const map of this.reopenedMaps) map.close();
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }
}

const ONE = Buffer.from([1]);
/** Index of COUNTER_UDP_REPLIES in the counters map (tcpconnect.bpf.c). */
const COUNTER_UDP_REPLIES = 3;
const CGROUP_NAME_LEN = 128;
/** Values of the cgroup_filter map (CGROUP_TRACE / CGROUP_IGNORE in tcpconnect.h). */
const CGROUP_TRACE = Buffer.from([1]);
const CGROUP_IGNORE = Buffer.from([2]);

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}
