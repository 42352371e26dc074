/**
 * The wire of `GET /v1/audit` (kubectl netpol audit): one JSON audit record per line, fanned out
 * from the judge's subscribe() to one HTTP response. As on /v1/connects, the agent never waits for
 * a client: a bounded queue sits in front of the socket; what does not fit is counted and told to
 * the client in-band ({"lost":N}, protocol.ts's encoding) before the next record it gets.
 *
 * Query (optional):
 *   since=RFC3339   first the records the judge still keeps (audit-replay.ts) that were judged at or
 *                   after this time, then live ones. The stream then begins with one line
 *                   {"replay":{"since","from","records":N,"complete","keeps":{"records","seconds"}}}
 *                   saying how many replayed records follow and from when the replay is complete:
 *                   when `since` is older than `from` (kept records were pushed out, or the agent
 *                   started later), records judged before `from` may be missing — said, never hidden.
 */
import type { Writable } from 'node:stream';
import { isRfc3339 } from '../flows/timestamp.js';
import type { AuditReplay } from './audit-replay.js';
import type { AuditRecord } from './judge-sink.js';
import { encodeLost, QueryError } from './protocol.js';

export interface AuditSource {
  subscribe(callback: (record: AuditRecord) => void): () => void;
  replay(since: Date): AuditReplay<AuditRecord>;
}

export interface AuditQuery {
  since?: Date;
}

/** The in-band line that opens a replaying stream. */
export interface WireReplay {
  replay: { since: string; from: string; records: number; complete: boolean; keeps: { records: number; seconds: number } };
}

export interface AuditStreamFigures {
  sent: number;
  lost: number;
  backlog: number;
  replayed: number;
}

/** Parses /v1/audit's query; unknown parameters are refused, as on /v1/connects. */
export function parseAuditQuery(params: URLSearchParams): AuditQuery {
  for (const key of params.keys()) if (key !== 'since') throw new QueryError(key, 'unknown parameter; known: since');
  const all = params.getAll('since');
  const since = all[all.length - 1];
  if (since === undefined) return {};
  if (since === '') throw new QueryError('since', 'empty');
  const d = new Date(since);
  if (!isRfc3339(since) || Number.isNaN(d.getTime())) {
    // URLSearchParams reads an unescaped + as a space: say so, it is the usual mistake.
    const plus = / \d{2}:\d{2}$/.test(since) ? ' (a + in a query must be sent as %2B)' : '';
    throw new QueryError('since', `"${since}" is not an RFC 3339 time such as 2026-12-07T00:19:49.123Z${plus}`);
  }
  return { since: d };
}

/**
 * Streams `source`'s records to `out` until the returned function is called (on the client's close):
 * with `since`, the replay first. The replay is taken and the live subscription made in one tick
 * (the judge's accept() is synchronous), so no record falls between them or comes twice; replayed
 * lines wait in the queue like live ones and never count against the live lines' bound.
 */
export function streamAudit(source: AuditSource, out: Writable, maxQueue = 1024, query: AuditQuery = {}): { stop: () => void; figures: () => AuditStreamFigures } {
  const queue: string[] = [];
  /** Replayed lines still at the head of the queue (outside maxQueue). */
  let replayQueued = 0;
  let pendingLost = 0;
  let lost = 0;
  let sent = 0;
  let replayed = 0;
  const write = (line: string): void => {
    out.write(line);
    if (line.startsWith('{"v"')) sent++;
  };
  const flush = (): void => {
    while (queue.length > 0 && !out.writableNeedDrain) {
      write(queue.shift()!);
      if (replayQueued > 0) replayQueued--;
    }
    if (queue.length === 0 && pendingLost > 0 && !out.writableNeedDrain) {
      out.write(encodeLost(pendingLost));
      pendingLost = 0;
    }
  };
  out.on('drain', flush);
  if (query.since !== undefined) {
    const r = source.replay(query.since);
    const head: WireReplay = { replay: { since: query.since.toISOString(), from: r.from.toISOString(), records: r.records.length, complete: r.complete, keeps: r.keeps } };
    queue.push(JSON.stringify(head) + '\n');
    for (const record of r.records) queue.push(JSON.stringify(record) + '\n');
    replayQueued = queue.length;
    replayed = r.records.length;
    flush();
  }
  const unsubscribe = source.subscribe((record) => {
    const line = JSON.stringify(record) + '\n';
    if (queue.length === 0 && pendingLost === 0 && !out.writableNeedDrain) {
      write(line);
      return;
    }
    // Room for the lost record too: it must reach the client before the next record does.
    if (maxQueue - (queue.length - replayQueued) - (pendingLost > 0 ? 1 : 0) <= 0) {
      pendingLost++;
      lost++;
      return;
    }
    if (pendingLost > 0) {
      queue.push(encodeLost(pendingLost));
      pendingLost = 0;
    }
    queue.push(line);
    flush();
  });
  return {
    stop: () => {
      unsubscribe();
      out.off('drain', flush);
    },
    figures: () => ({ sent, lost, backlog: queue.length, replayed }),
  };
}
