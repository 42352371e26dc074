/**
 * Kernel de-duplication of allowed edges. In a connect storm every connect is one of a few edges
 * with the same verdict, yet each went through the ring, decoding, attribution and every sink. Once
 * a connect was judged allowed by every enforced and staged policy, attributed and handed to every
 * sink, the agent writes its edge (cgroup, netns, family, daddr, dport) into the kernel's table
 * (bpf/allowed-edges.h); from then on the state program only counts that edge's established
 * answers. A sweep (every second, and at stop) reads the counts and hands the new ones to the sinks
 * as repeats of the connect that was written (ConnectSink.acceptRepeats).
 *
 * Generations. Each entry's key carries the generation it was written in, and the program looks up
 * the current one only. Whatever could change a verdict (the cluster view: policies, pods,
 * namespaces, services; the staged policies) bumps it: the old entries stop matching at once, so
 * the very next connect of such an edge goes through the ring and is judged afresh. Old entries are
 * read one last time and deleted by the first sweep at least RETIRE_MS after the bump: a program
 * that looked up the old generation just before the bump has long finished its increment by then
 * (it runs for microseconds), so no count is lost between the last read and the delete.
 *
 * Counts are never reset in the kernel (user space cannot read and zero a per-CPU value at once):
 * the sweep takes the difference to what it handed over before.
 *
 * What is never counted in the kernel: denied and would-deny edges (repeatable() says no: one audit
 * line per connection), answers other than established (refused, timeout, closed: what "dropped by"
 * needs), UDP. And nothing at all while a /v1/connects client or a sink wants every connect
 * (setEnabled(false): the generation is bumped too, so the entries already counted are swept).
 *
 * This module holds the bookkeeping only; the table is the kernel map (src/agent/allowed-edges.ts)
 * or, in unit tests, an in-memory one.
 */
import { allowedEdgeOf, encodeAllowedKey, type AllowedEdgeTable } from '../agent/allowed-edges.js';
import type { PodConnect } from '../cluster/cluster-agent.js';
import type { StatusFigures } from './sink.js';

export interface KernelDedupOptions {
  table: AllowedEdgeTable;
  /** `count` more connects like `connect`, the last at `lastSeenNs` (CLOCK_BOOTTIME). */
  onRepeats: (connect: PodConnect, count: number, lastSeenNs: bigint) => void;
  /**
   * The generation the table's program used before (a restarted pinned agent finds its
   * predecessor's entries): this one starts past it, and counts what it finds in `orphaned`.
   */
  previousGeneration?: number;
  /** Clock (ms) for the retirement delay; tests give their own. */
  now?: () => number;
}

/** How long after a bump the old generation's entries are deleted (after a last read). */
export const RETIRE_MS = 100;

interface Entry {
  connect: PodConnect;
  generation: number;
  /** The kernel count already handed over. */
  reported: number;
}

export class KernelDedup {
  private readonly table: AllowedEdgeTable;
  private readonly onRepeats: KernelDedupOptions['onRepeats'];
  private gen: number;
  private on = false;
  /** By the key's bytes (hex, generation included). */
  private readonly entries = new Map<string, Entry>();
  /** Retired generations → when (ms) they were retired. */
  private readonly retired = new Map<number, number>();
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly figures = {
    /** Connects counted in the kernel and handed to the sinks as repeats. */
    deduped: 0,
    /** Edges written into the table. */
    added: 0,
    /**
     * Offers refused because the table was full (that connect's edge keeps flowing through the
     * ring; a refused edge offered again is counted again). The first one after the table filled
     * retires every entry (a bump), so the edges busy now refill it.
     */
    full: 0,
    /** Connects counted in entries this agent did not write (a pinned predecessor's, swept at takeover): counted, not attributed. */
    orphaned: 0,
    /** Generation bumps. */
    invalidations: 0,
    sweepErrors: 0,
  };
  lastError: string | undefined;

  constructor(opts: KernelDedupOptions) {
    this.table = opts.table;
    this.onRepeats = opts.onRepeats;
    this.now = opts.now ?? Date.now;
    this.gen = nextGeneration(opts.previousGeneration ?? 0);
    // Off until the agent turns it on: a predecessor's entries stop matching now.
    this.writeState();
  }

  get generation(): number {
    return this.gen;
  }

  get enabled(): boolean {
    return this.on;
  }

  /** Edges written in the current generation and not swept yet, and older ones awaiting their last sweep. */
  get edges(): number {
    return this.entries.size;
  }

  /** Sweeps every `intervalMs` (default 1 s). */
  start(intervalMs = 1000): void {
    this.timer = setInterval(() => this.sweep(), intervalMs);
    this.timer.unref();
  }

  /** On: edges offered from now on are counted in the kernel. Off: nothing is (the generation is bumped). */
  setEnabled(on: boolean): void {
    if (this.stopped || on === this.on) return;
    this.on = on;
    if (on) this.writeState();
    else this.invalidate();
  }

  /** A verdict may have changed: entries written so far stop matching (swept, then deleted). */
  invalidate(): void {
    if (this.stopped) return;
    this.retired.set(this.gen, this.now());
    this.gen = nextGeneration(this.gen);
    this.figures.invalidations++;
    this.writeState();
  }

  /**
   * The state the program reads. Called from the view's change listeners too, where a throw would
   * stop the other listeners: a failure (the tracer gone after an error) is kept in lastError.
   */
  private writeState(): void {
    try {
      this.table.setState(this.gen, this.on);
    } catch (err) {
      this.figures.sweepErrors++;
      this.lastError = (err as Error).message;
    }
  }

  /**
   * This connect (answered established, judged allowed everywhere, attributed, handed to every
   * sink): count its edge's later connects in the kernel. No-op while off.
   */
  offer(connect: PodConnect): void {
    if (!this.on || this.stopped) return;
    const edge = allowedEdgeOf(connect.event);
    const added = this.table.add(edge, this.gen);
    if (added === 'added') {
      this.entries.set(encodeAllowedKey(edge, this.gen).toString('hex'), { connect, generation: this.gen, reported: 0 });
      this.figures.added++;
    } else if (added === 'full') {
      this.figures.full++;
      // Full of edges that may have gone quiet: retire them all, unless a bump is already waiting
      // for the sweep that deletes them.
      if (this.retired.size === 0) this.invalidate();
    }
  }

  /** Reads the counts, hands the new ones over, deletes the entries of generations retired long enough. */
  sweep(final = false): void {
    try {
      this.sweepOnce(final);
    } catch (err) {
      // The table gone (the tracer stopped after an error): said in status, never thrown from the timer.
      this.figures.sweepErrors++;
      this.lastError = (err as Error).message;
    }
  }

  private sweepOnce(final: boolean): void {
    const now = this.now();
    if (this.on && !this.stopped) this.table.renew?.();
    const rows = this.table.counts();
    for (const row of rows) {
      const id = row.key.toString('hex');
      const entry = this.entries.get(id);
      if (!entry) {
        // Not written by this agent: a pinned predecessor's (its generation is past). What it did
        // not hand over cannot be attributed any more (the connect it stood for died with that
        // process); what it did is in the table's record of what was reported.
        this.figures.orphaned += Math.max(0, row.count - (this.table.reported?.(row.key) ?? 0));
        this.table.remove(row.key);
        continue;
      }
      const delta = row.count - entry.reported;
      if (delta > 0) {
        entry.reported = row.count;
        // Before handing over: a crash in between counts these as handed over, never twice.
        this.table.setReported?.(row.key, row.count);
        this.figures.deduped += delta;
        this.onRepeats(entry.connect, delta, row.lastSeenNs);
      }
      if (entry.generation !== this.gen) {
        const retiredAt = this.retired.get(entry.generation);
        if (final || retiredAt === undefined || now - retiredAt >= RETIRE_MS) {
          this.table.remove(row.key);
          this.entries.delete(id);
        }
      }
    }
    // Their entries are gone by now (deleted above once RETIRE_MS had passed).
    for (const [g, at] of this.retired) if (now - at >= 2 * RETIRE_MS) this.retired.delete(g);
  }

  /**
   * At stop, while the programs still run: off (the generation bumped), a moment for a program
   * that looked up the old generation to finish, then a last sweep of everything.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.timer);
    this.setEnabled(false);
    this.invalidate();
    this.stopped = true;
    await new Promise((r) => setTimeout(r, 20));
    this.sweep(true);
  }

  status(): StatusFigures {
    return {
      on: this.on,
      generation: this.gen,
      edges: this.entries.size,
      ...this.figures,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }
}

/** The next generation (u32 in the key; 0 is never used, so a zeroed state matches nothing written). */
export function nextGeneration(g: number): number {
  const n = (g + 1) >>> 0;
  return n === 0 ? 1 : n;
}
