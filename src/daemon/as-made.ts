/**
 * Connects reported as made, on demand. The node agent's sockops hook (which reports each connect
 * as its SYN goes out) costs kernel time on every connect of the node and a second event per
 * connect through decode, attribution and the stream; only /v1/connects clients asking for
 * connects as made (`kubectl netpol trace` without --latency) and sinks with acceptMade use those
 * events. So the hook is attached while at least one of them wants it, and detached a little after
 * the last one left (AS_MADE_LINGER_MS). Answers are reported all along.
 *
 * Nothing is missed across the switch: an answered connect that was not reported as made (its SYN
 * went out while the hook was detached, or before it was attached) is also published as made — the
 * stream's when=connect clients get it then, as they do when the hook cannot be attached at all.
 * The answer's event time is the SYN_SENT time, which tells which side of the switch a connect is
 * — nearly: the hook runs a little after SYN_SENT (once the source port is chosen), so a detach
 * counts from DETACH_MARGIN_NS before it (a duplicate at worst, never a miss), and the periods the
 * hook was attached before are remembered for as long as a connect may wait for its answer.
 */
import type { ConnectEvent } from '../agent/event.js';

/**
 * How long the hook stays attached after its last client left: `kubectl netpol trace` reconnecting
 * (a port-forward dropped, a pod restarted) finds it still attached rather than flapping it, and a
 * restarted agent waits as long for the clients of the one before before detaching what it found.
 */
export const AS_MADE_LINGER_MS = 5_000;

/** At most this many early as-made connects remembered (see sawMade); past it, duplicates, never misses. */
const EARLY_MAX = 4096;

/**
 * A detach counts from this long before it: a connect whose SYN_SENT came just before the detach
 * may reach the hook's call (after choosing its source port) only once the hook is gone.
 */
const DETACH_MARGIN_NS = 1_000_000_000n;

/**
 * Earlier attached periods are kept this long after they ended: a connect made as one of them
 * ended can be answered (or time out: ~130 s with the default SYN retries) after the hook was
 * attached again, and its answer must not be published as made a second time.
 */
const PERIOD_KEEP_NS = 600_000_000_000n;

/** What the switch drives: the tracer's sockops hook (ClusterAgent.setReportConnects). */
export interface AsMadeHook {
  setReportConnects(on: boolean): { reported: boolean; problem?: string };
  /** CLOCK_BOOTTIME ns since which connects are reported as made (0n: since before this agent), while attached. */
  readonly reportingSinceNs: bigint | undefined;
}

export class AsMadeSwitch {
  private hook: AsMadeHook | undefined;
  private wanted = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** The current (or last) period the hook was attached: [from, to) in event time; to undefined while attached. */
  private from: bigint | undefined;
  private to: bigint | undefined;
  /** Earlier attached periods [from, to), oldest first, kept PERIOD_KEEP_NS after they ended. */
  private readonly periods: { from: bigint; to: bigint }[] = [];
  /**
   * Connects reported as made whose SYN went out just before `from` (between SYN_SENT and the
   * hook's own call, the hook got attached): their answers are not published as made again.
   */
  private readonly early = new Set<string>();
  private state: { reported: boolean; problem?: string } = { reported: false };
  /** Times the hook was attached and detached (status, tests). */
  attaches = 0;
  detaches = 0;

  private readonly lingerMs: number;
  private readonly log: (line: string) => void;
  private now: () => bigint;

  constructor(opts: { lingerMs?: number; log?: (line: string) => void } = {}) {
    this.lingerMs = opts.lingerMs ?? AS_MADE_LINGER_MS;
    this.log = opts.log ?? (() => {});
    this.now = () => 0n;
  }

  /**
   * The agent's tracer is running: apply the demand so far. A hook found attached (a restarted
   * agent reopening its predecessor's pins) with nobody wanting it is detached after the linger.
   * `now`: the events' clock (CLOCK_BOOTTIME ns), read when detaching.
   */
  attach(hook: AsMadeHook, now: () => bigint): void {
    this.hook = hook;
    this.now = now;
    const since = hook.reportingSinceNs;
    if (since !== undefined) {
      this.from = since;
      this.to = undefined;
      this.state = { reported: true };
    }
    if (this.wanted > 0) this.apply(true);
    else if (since !== undefined) this.scheduleOff();
    else this.state = hook.setReportConnects(false);
  }

  /** One more consumer of connects as made; call the returned function when it leaves (once). */
  want(): () => void {
    this.wanted++;
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    if (this.wanted === 1) this.apply(true);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.wanted--;
      if (this.wanted === 0) this.scheduleOff();
    };
  }

  /** The agent stops: no switching any more (the tracer's close() decides what stays attached). */
  stop(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = undefined;
    this.hook = undefined;
  }

  get consumers(): number {
    return this.wanted;
  }

  /** Connects are being reported as made right now (else `problem` says why, when it is not merely unwanted). */
  get reporting(): { reported: boolean; problem?: string } {
    return this.state;
  }

  private scheduleOff(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      if (this.wanted === 0) this.apply(false);
    }, this.lingerMs);
    this.lingerTimer.unref();
  }

  private apply(on: boolean): void {
    const hook = this.hook;
    if (!hook) return;
    if (on === this.state.reported) return;
    if (on) {
      this.state = hook.setReportConnects(true);
      if (!this.state.reported) {
        this.log(`warning: connects are reported when answered only: ${this.state.problem ?? 'the sockops hook is not attached'}`);
        return;
      }
      this.attaches++;
      if (this.from !== undefined && this.to !== undefined) this.periods.push({ from: this.from, to: this.to });
      const horizon = this.now() - PERIOD_KEEP_NS;
      while (this.periods.length > 0 && this.periods[0]!.to < horizon) this.periods.shift();
      this.from = hook.reportingSinceNs ?? 0n;
      this.to = undefined;
      this.log('connects reported as made (a client wants them): sockops hook attached');
      return;
    }
    // Taken before detaching, less the margin: a connect from there on may not be reported as made,
    // so its answer is (a duplicate at worst, for a connect made in the instant of the switch).
    const to = this.now() - DETACH_MARGIN_NS;
    this.state = hook.setReportConnects(false);
    if (this.state.reported) return;
    this.detaches++;
    this.to = to;
    this.log('connects reported when answered only (no client wants them as made): sockops hook detached');
  }

  /** A connect reported as made went by (outcome `connecting`). */
  sawMade(e: ConnectEvent): void {
    if (this.from !== undefined && e.tsNs < this.from) {
      if (this.early.size >= EARLY_MAX) this.early.clear();
      this.early.add(key(e));
    }
  }

  /**
   * An answer (or any final event): true when its connect was not reported as made, so the stream
   * also publishes it as made. Outside the hook's last attached period, or in it but with the SYN
   * out before the hook was.
   */
  notReportedAsMade(e: ConnectEvent): boolean {
    // A UDP send is made and final at once: never reported twice, so it is always "as made" too.
    if (e.proto === 'UDP') return true;
    const from = this.from;
    if (from === undefined) return true;
    if (this.early.size > 0 && this.early.delete(key(e))) return false;
    if (e.tsNs >= from) return this.to !== undefined && e.tsNs >= this.to;
    for (const p of this.periods) if (e.tsNs >= p.from && e.tsNs < p.to) return false;
    return true;
  }
}

function key(e: ConnectEvent): string {
  return `${e.tsNs}/${e.sport}`;
}

