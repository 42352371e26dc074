/**
 * Which protocols a node's agent observes, and since when without a break: what its profile
 * objects claim in status.protocols (types.ts ProtocolObservation).
 *
 * The window survives agent restarts that keep observing a protocol: it is kept in a small file
 * next to the journal (the DaemonSet's hostPath). An agent reads the previous state at start and
 * at once overwrites it with "starting", so an agent that dies before it knows what it observes
 * (its programs not attached yet) leaves no claim behind; once attached, it settles the state: a
 * protocol observed before and now keeps its `since`, one newly observed starts at this agent's
 * attach time, one not observed gets its reason. So a restart without CAP_NET_ADMIN in between
 * breaks the UDP window, even when that agent never wrote the objects (its journaled connects
 * replayed by the next agent are then older than the new `since`, as they must be).
 * Without a journal directory there is no file: each agent's window starts with it.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProfileProtocol, ProtocolObservation } from './types.js';

const FILE = 'observing.json';
/** The CRD's bound on a problem text. */
const MAX_PROBLEM = 512;

/** What the agent's tracer says about one protocol now. */
export interface ProtocolState {
  protocol: ProfileProtocol;
  observed: boolean;
  problem?: string;
}

export class ObservationLedger {
  private constructor(
    private readonly path: string | undefined,
    private readonly previous: ProtocolObservation[],
  ) {}

  /** Reads the previous agent's state and marks this one as starting (see the module comment). */
  static open(dir: string | undefined): ObservationLedger {
    if (!dir) return new ObservationLedger(undefined, []);
    const path = join(dir, FILE);
    const previous = readState(path);
    try {
      writeState(path, { starting: true });
    } catch {
      // Not writable: no window can be carried over, so none is read either (each agent's starts with it).
      return new ObservationLedger(undefined, []);
    }
    return new ObservationLedger(path, previous);
  }

  /**
   * This agent's observations, given what its tracer attached and when it began attaching (taken
   * before any program was attached, so no edge it records is older than its window).
   */
  settle(now: ProtocolState[], attachStart: Date): ProtocolObservation[] {
    const since = attachStart.toISOString();
    const out = now.map((p): ProtocolObservation => {
      if (!p.observed) return { protocol: p.protocol, problem: (p.problem ?? 'not observed by this agent').slice(0, MAX_PROBLEM) };
      const before = this.previous.find((q) => q.protocol === p.protocol)?.since;
      return { protocol: p.protocol, since: before !== undefined && before < since ? before : since };
    });
    if (this.path) {
      try {
        writeState(this.path, { protocols: out });
      } catch {
        // The file still says "starting": the next agent starts a new window (shorter, never longer).
      }
    }
    return out;
  }
}

function readState(path: string): ProtocolObservation[] {
  if (!existsSync(path)) return [];
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { protocols?: unknown };
    if (!Array.isArray(doc.protocols)) return [];
    // Only well-formed entries continue a window: anything else starts a new one (never a longer claim).
    return doc.protocols.filter(
      (p): p is ProtocolObservation =>
        typeof p === 'object' && p !== null && typeof p.protocol === 'string' && typeof p.since === 'string' && !Number.isNaN(Date.parse(p.since)),
    );
  } catch {
    return [];
  }
}

function writeState(path: string, state: object): void {
  // Atomically: a torn file would read as "nothing before", which only shortens a window.
  writeFileSync(`${path}.tmp`, `${JSON.stringify(state)}\n`);
  renameSync(`${path}.tmp`, path);
}
