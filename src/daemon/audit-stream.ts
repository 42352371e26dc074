/**
 * The wire of `GET /v1/audit` (kubectl netpol audit): one JSON audit record per line, fanned out
 * from the judge's subscribe() to one HTTP response. As on /v1/connects, the agent never waits for
 * a client: a bounded queue sits in front of the socket; what does not fit is counted and told to
 * the client in-band ({"lost":N}, protocol.ts's encoding) before the next record it gets.
 */
import type { Writable } from 'node:stream';
import type { AuditRecord } from './judge-sink.js';
import { encodeLost } from './protocol.js';

export interface AuditSource {
  subscribe(callback: (record: AuditRecord) => void): () => void;
}

export interface AuditStreamFigures {
  sent: number;
  lost: number;
  backlog: number;
}

/** Streams `source`'s records to `out` until the returned function is called (on the client's close). */
export function streamAudit(source: AuditSource, out: Writable, maxQueue = 1024): { stop: () => void; figures: () => AuditStreamFigures } {
  const queue: string[] = [];
  let pendingLost = 0;
  let lost = 0;
  let sent = 0;
  const flush = (): void => {
    while (queue.length > 0 && !out.writableNeedDrain) {
      const line = queue.shift()!;
      out.write(line);
      if (!line.startsWith('{"lost"')) sent++;
    }
    if (queue.length === 0 && pendingLost > 0 && !out.writableNeedDrain) {
      out.write(encodeLost(pendingLost));
      pendingLost = 0;
    }
  };
  out.on('drain', flush);
  const unsubscribe = source.subscribe((record) => {
    const line = JSON.stringify(record) + '\n';
    if (queue.length === 0 && pendingLost === 0 && !out.writableNeedDrain) {
      out.write(line);
      sent++;
      return;
    }
    // Room for the lost record too: it must reach the client before the next record does.
    if (maxQueue - queue.length - (pendingLost > 0 ? 1 : 0) <= 0) {
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
    figures: () => ({ sent, lost, backlog: queue.length }),
  };
}
