/**
 * The traffic-profile sink of the node agent: each attributed connect is resolved against the
 * agent's cluster view at that moment (the synthesizer's own resolveFlow, so what is stored is
 * what `learn --flows` would have learned then), turned into its workload identities
 * (src/cluster/profile/identity.ts) and handed to the profile writer, which journals it and merges
 * it into this node's share of the workload's TrafficProfile.
 *
 * Settings come from the agent's environment (the DaemonSet sets them):
 *   NETPOL_PROFILE_DIR        the journal's hostPath directory (default /var/lib/netpol/<node>/profile)
 *   NETPOL_PROFILE_RETENTION  e.g. 14d (default)           NETPOL_PROFILE_FLUSH  e.g. 10s (default)
 *   NETPOL_PROFILE_MAX_EDGES  edges per profile object (default 1000)
 */
import type { RingMark } from '../agent/pins.js';
import type { PodConnect } from '../cluster/cluster-agent.js';
import { observationOf } from '../cluster/profile/identity.js';
import type { ProtocolState } from '../cluster/profile/observing.js';
import { DEFAULT_RETENTION_MS, ProfileWriter, type ProfileWriterOptions } from '../cluster/profile/writer.js';
import { InputError } from '../errors.js';
import { resolveFlow } from '../policy/traffic.js';
import type { ConnectSink, MetricFamily, SinkContext, SinkFactory, StatusFigures } from './sink.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `14d`, `10s`, `1h30m` → ms; the agent's environment uses the CLI's duration syntax. */
function envDuration(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  let total = 0;
  let rest = text.trim();
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!m) throw new InputError(name, `not a duration: "${text}" (e.g. 10s, 5m, 14d)`);
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (!(total > 0)) throw new InputError(name, `not a positive duration: "${text}"`);
  return total;
}

function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InputError(name, `must be a positive integer, got "${text}"`);
  return n;
}

/** The journal's directory: $NETPOL_PROFILE_DIR, else the DaemonSet's hostPath /var/lib/netpol/<node>/profile. */
export function profileJournalDir(node: string): string {
  return process.env.NETPOL_PROFILE_DIR || `/var/lib/netpol/${node}/profile`;
}

/** The writer's options from the environment and the node's name. */
export function profileWriterOptions(ctx: SinkContext): Omit<ProfileWriterOptions, 'kc'> {
  return {
    node: ctx.node,
    journalDir: profileJournalDir(ctx.node),
    retentionMs: envDuration('NETPOL_PROFILE_RETENTION', DEFAULT_RETENTION_MS),
    flushIntervalMs: envDuration('NETPOL_PROFILE_FLUSH', 10_000),
    maxEdges: envInt('NETPOL_PROFILE_MAX_EDGES', 1000),
  };
}

class ProfileSink implements ConnectSink {
  readonly name = 'profile';
  private unresolvable = 0;
  /**
   * The last repeat handed over per representative connect: the next repeats happened after it
   * (the representative's own time may be hours old; it starts only the first batch's window).
   */
  private readonly repeatsSeen = new WeakMap<PodConnect, string>();

  constructor(
    private readonly writer: ProfileWriter,
    private readonly ctx: SinkContext,
  ) {}

  accept(c: PodConnect): void {
    try {
      const obs = observationOf(resolveFlow(c.record, this.ctx.view.index()), c.time.toISOString());
      if (obs) this.writer.accept(obs, c.cursor);
      else this.unresolvable++;
    } catch {
      // A record the view cannot resolve (its pod vanished between attribution and here): counted.
      this.unresolvable++;
    }
  }

  /** Connects the kernel counted on an edge judged allowed: counts and last seen in the profile, as if accepted one by one. */
  acceptRepeats(c: PodConnect, count: number, lastSeen: Date): void {
    try {
      const last = lastSeen.toISOString();
      const first = this.repeatsSeen.get(c) ?? c.time.toISOString();
      this.repeatsSeen.set(c, last);
      const obs = observationOf(resolveFlow(c.record, this.ctx.view.index()), last);
      if (obs) this.writer.acceptRepeats(obs, count, first, last);
      else this.unresolvable += count;
    } catch {
      this.unresolvable += count;
    }
  }

  observing(protocols: ProtocolState[], attachStart: Date): void {
    this.writer.observing(protocols, attachStart);
  }

  status(): StatusFigures {
    const s = this.writer.status();
    return { ...s, lost: (s.lost as number) + this.unresolvable, unresolvable: this.unresolvable };
  }

  metrics(): MetricFamily[] {
    const s = this.status();
    const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ value }] });
    return [
      counter('netpol_profile_observed_total', 'Connects handed to the profile writer.', s.observed as number),
      counter('netpol_profile_writes_total', 'Successful TrafficProfile writes.', s.written as number),
      counter('netpol_profile_write_failures_total', 'Failed TrafficProfile writes (retried with backoff).', s.retried as number),
      counter('netpol_profile_lost_total', 'Connects that could not be kept in any profile.', s.lost as number),
      counter('netpol_profile_overflow_connects_total', 'Connects beyond a profile size bound (counted in its status).', s.overflowConnects as number),
      { name: 'netpol_profile_backlog_edges', help: 'Edges not yet written to the API server.', type: 'gauge', samples: [{ value: s.backlog as number }] },
    ];
  }

  readiness(): { ready: boolean; reason?: string } {
    return this.writer.readiness();
  }

  ringMark(): RingMark | undefined {
    return this.writer.ringMark();
  }

  sync(): void {
    this.writer.syncJournal();
  }

  close(deadline: Date): Promise<void> {
    return this.writer.close(deadline);
  }
}

/**
 * The profile sink with settings from `netpol agent`'s flags (e.g. `--retention 14d` parsed by the
 * command); what is not given comes from the environment, then the defaults.
 */
export function createProfileSinkFactory(overrides: Partial<Omit<ProfileWriterOptions, 'kc' | 'node'>> = {}): SinkFactory {
  return async (ctx) => {
    const writer = await ProfileWriter.start({ kc: ctx.view.kc, ...profileWriterOptions(ctx), ...overrides });
    return new ProfileSink(writer, ctx);
  };
}

/** The profile sink; the agent calls it once its cluster view is synced. */
export const profileSinkFactory: SinkFactory = createProfileSinkFactory();
