/**
 * The live stream behind /v1/connects: every connect of this node, published once as made and
 * once when answered, fanned out to the subscribers whose filters take it. The agent never waits
 * for a subscriber: each has a bounded queue in front of its socket; what does not fit is counted
 * and told to that client in-band ({"lost":N}) when it catches up, and in the figures of status
 * and /metrics. A short replay buffer (REPLAY_SECONDS) lets a client that found its pod a moment
 * after the pod started ask for the connects it would have missed (`since=`).
 *
 * Connects the kernel counted instead of sending (repeats of allowed edges, while no client
 * streamed: kernel-dedup.ts) reach the stream only as counts (noteRepeats): a replay or a live
 * client whose query takes them is told how many in-band ({"lost":N,"counted":true}), never
 * left to believe it saw every connect.
 */
import type { Writable } from 'node:stream';
import type { PodConnect } from '../cluster/cluster-agent.js';
import { compileConnectFilter, type ConnectFilter } from './connect-filter.js';
import { encodeLine, encodeLost, REPLAY_SECONDS, type ConnectsQuery, type When } from './protocol.js';
import { Ring } from './ring.js';
import type { MetricFamily, StatusFigures } from './sink.js';

export interface ConnectStreamOptions {
  /** Lines a subscriber may have waiting before newer ones are dropped (and counted). Default 1024. */
  queueLines?: number;
  /** Connects kept for `since=` (at most REPLAY_SECONDS old). Default 8192. */
  replayEntries?: number;
  /**
   * Told of each client that wants connects as made (when=connect, TCP), while it streams: the
   * agent reports connects as made only then (src/daemon/as-made.ts). Returns the release function.
   */
  wantAsMade?: () => () => void;
  /**
   * Told whenever the number of clients changes: while any streams, every connect must reach the
   * stream, so the agent counts none in the kernel (src/daemon/kernel-dedup.ts).
   */
  onSubscribers?: (count: number) => void;
}

interface Published {
  c: PodConnect;
  when: When;
  /** An answer whose connect was not reported as made: when=connect clients get it instead. */
  alsoMade: boolean;
  /** Encoded once, on first use. */
  line?: string;
  /**
   * Set for the kernel's count of `c`'s repeats (not a connect of its own): how many, up to
   * `lastSeen`. Counted while no client streamed, so never reported as made: any query that takes
   * `c` as made or answered takes them.
   */
  repeats?: number;
  lastSeen?: number;
}

class Subscriber {
  readonly queue: string[] = [];
  pendingLost = 0;
  /** Connects counted in the kernel, to be told ({"lost":N,"counted":true}) once the queue has room. */
  pendingCounted = 0;
  lost = 0;
  sent = 0;
  private readonly onDrain = (): void => this.flush();

  constructor(
    readonly out: Writable,
    readonly filter: ConnectFilter,
    private readonly maxQueue: number,
  ) {
    out.on('drain', this.onDrain);
  }

  offer(line: string): boolean {
    if (this.queue.length === 0 && this.pendingLost === 0 && !this.out.writableNeedDrain) {
      this.out.write(line);
      this.sent++;
      return true;
    }
    // Room for the lost record too: it must reach the client before the next connect does.
    const room = this.maxQueue - this.queue.length - (this.pendingLost > 0 ? 1 : 0);
    if (room <= 0) {
      this.pendingLost++;
      this.lost++;
      return false;
    }
    if (this.pendingLost > 0) {
      this.queue.push(encodeLost(this.pendingLost));
      this.pendingLost = 0;
    }
    this.queue.push(line);
    this.flush();
    return true;
  }

  flush(): void {
    while (this.queue.length > 0 && !this.out.writableNeedDrain) {
      const line = this.queue.shift()!;
      this.out.write(line);
      if (!line.startsWith('{"lost"')) this.sent++;
    }
    if (this.queue.length === 0 && this.pendingLost > 0 && !this.out.writableNeedDrain) {
      this.out.write(encodeLost(this.pendingLost));
      this.pendingLost = 0;
    }
    if (this.queue.length === 0 && this.pendingCounted > 0 && !this.out.writableNeedDrain) {
      this.out.write(encodeLost(this.pendingCounted, true));
      this.pendingCounted = 0;
    }
  }

  /**
   * `n` more connects counted in the kernel: told in-band, added up while the client is behind. Not a
   * connect of its own, so never dropped for a full queue (nor counted as a slow reader's loss).
   */
  tellCounted(n: number): void {
    this.pendingCounted += n;
    this.flush();
  }

  /** Set for a client that wants connects as made: says it left. */
  release: (() => void) | undefined;

  detach(): void {
    this.out.off('drain', this.onDrain);
    this.release?.();
    this.release = undefined;
  }
}

/** Does the subscriber's query take this entry (as published, or as made when it was not reported so)? */
function takes(s: Subscriber, p: Published): boolean {
  return s.filter(p.c, p.when) || (p.alsoMade && s.filter(p.c, 'connect'));
}

export class ConnectStream {
  private readonly subscribers = new Set<Subscriber>();
  private readonly replay: Ring<Published>;
  private readonly queueLines: number;
  private readonly replayEntries: number;
  private published = 0;
  private lostTotal = 0;
  private readonly wantAsMade: (() => () => void) | undefined;

  constructor(opts: ConnectStreamOptions = {}) {
    this.queueLines = opts.queueLines ?? 1024;
    this.replayEntries = opts.replayEntries ?? 8192;
    this.replay = new Ring(this.replayEntries);
    this.wantAsMade = opts.wantAsMade;
    this.onSubscribers = opts.onSubscribers;
  }

  private readonly onSubscribers: ((count: number) => void) | undefined;

  /**
   * Hands one connect to every subscriber that asked for it; never blocks. `alsoMade`: an answer
   * whose connect was not reported as made (the hook detached, or not attached yet when its SYN
   * went out), which when=connect subscribers then get instead.
   */
  publish(c: PodConnect, when: When, alsoMade = false): void {
    this.published++;
    const p: Published = { c, when, alsoMade };
    this.replay.push(p);
    for (const s of this.subscribers) this.offer(s, p);
  }

  /**
   * `count` connects like `c` that the kernel counted instead of sending (up to `lastSeen`): kept
   * for `since=` replays, and told to the live clients whose query takes them.
   */
  noteRepeats(c: PodConnect, count: number, lastSeen: Date): void {
    const p: Published = { c, when: 'answer', alsoMade: true, repeats: count, lastSeen: lastSeen.getTime() };
    this.replay.push(p);
    for (const s of this.subscribers) if (takes(s, p)) s.tellCounted(count);
  }


  private offer(s: Subscriber, p: Published): void {
    if (!takes(s, p)) return;
    p.line ??= encodeLine(p.c, p.when);
    if (!s.offer(p.line)) this.lostTotal++;
  }

  /**
   * Starts streaming to `out` (an HTTP response): the replayed past first when the query has
   * `since`, then live. Throws QueryError for a bad query. Returns the function that ends it.
   */
  subscribe(query: ConnectsQuery, out: Writable): () => void {
    const s = new Subscriber(out, compileConnectFilter(query), this.queueLines);
    // Before the replay: from here on no connect goes unreported (see as-made.ts).
    const release = (query.when ?? 'connect') === 'connect' && query.proto !== 'UDP' ? this.wantAsMade?.() : undefined;
    s.release = release;
    if (query.since !== undefined) {
      const from = Math.max(query.since.getTime(), Date.now() - REPLAY_SECONDS * 1000);
      let counted = 0;
      for (const p of this.replay) {
        if (p.repeats !== undefined) {
          // A count swept up to lastSeen: some of it may be older than `from`; told as "up to".
          if (p.lastSeen! >= from && takes(s, p)) counted += p.repeats;
        } else if (p.c.time.getTime() >= from) this.offer(s, p);
      }
      if (counted > 0) s.tellCounted(counted);
    }
    this.subscribers.add(s);
    this.onSubscribers?.(this.subscribers.size);
    return () => {
      s.detach();
      if (this.subscribers.delete(s)) this.onSubscribers?.(this.subscribers.size);
    };
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Ends every subscriber's response (shutdown). */
  endAll(): void {
    for (const s of this.subscribers) {
      s.detach();
      s.out.end();
    }
    this.subscribers.clear();
    this.onSubscribers?.(0);
  }

  status(): StatusFigures {
    let backlog = 0;
    for (const s of this.subscribers) backlog += s.queue.length;
    return { subscribers: this.subscribers.size, published: this.published, backlog, lost: this.lostTotal, replayEntries: this.replay.length };
  }

  metrics(): MetricFamily[] {
    return [
      { name: 'netpol_subscribers', help: 'Clients streaming /v1/connects now.', type: 'gauge', samples: [{ value: this.subscribers.size }] },
      {
        name: 'netpol_stream_lost_total',
        help: 'Connects not sent to a /v1/connects client because it read too slowly (each told in-band).',
        type: 'counter',
        samples: [{ value: this.lostTotal }],
      },
    ];
  }
}
