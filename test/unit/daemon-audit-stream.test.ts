// GET /v1/audit's wire (src/daemon/audit-stream.ts) read back by `netpol audit`'s decoder: records
// in order; a client that reads too slowly loses what overflows its bounded queue and is told how
// many, in-band, before the next record it gets — never silently.
import { describe, expect, it } from 'vitest';
import { SlowSocket } from '../support/slow-socket.js';
import { decodeAuditLine } from '../../src/cli/commands/audit/lines.js';
import { streamAudit } from '../../src/daemon/audit-stream.js';
import type { AuditRecord } from '../../src/daemon/judge-sink.js';

const rec = (i: number): AuditRecord => ({
  v: 1,
  ts: new Date(Date.UTC(2026, 11, 6, 12, 0, i)).toISOString(),
  node: 'n1',
  verdict: 'would-deny',
  staged: true,
  policy: 'shop/web',
  policies: ['shop/web'],
  gate: 'egress',
  src: `p/shop/web:${40000 + i}`,
  workload: 'shop/Deployment/web',
  dst: 'r/203.0.113.20:80',
  proto: 'TCP',
  reason: 'egress from shop/web isolated by shop/web: no rule allows 203.0.113.20:80/TCP',
});


describe('the /v1/audit stream', () => {
  it('sends records in order, and tells a slow client what it lost before the next record', async () => {
    let emit: (r: AuditRecord) => void = () => {};
    const source = { subscribe: (cb: (r: AuditRecord) => void) => ((emit = cb), () => (emit = () => {})), replay: () => { throw new Error('not asked'); } };
    const out = new SlowSocket();
    const stream = streamAudit(source, out, 3);
    for (let i = 0; i < 10; i++) emit(rec(i));
    // 1 written, 3 queued (the socket needs a drain), 6 lost.
    expect(stream.figures()).toEqual({ sent: 1, lost: 6, backlog: 3, replayed: 0 });
    for (let i = 0; i < 10 && (stream.figures().backlog > 0 || out.writableNeedDrain); i++) {
      out.release();
      await new Promise((r) => setImmediate(r));
    }
    emit(rec(10));
    out.release();
    await new Promise((r) => setImmediate(r));
    const decoded = out.lines.map(decodeAuditLine);
    expect(decoded.map((d) => (d.kind === 'record' ? d.record.src : d.kind === 'lost' ? `lost ${d.lost}` : d.kind === 'malformed' ? d.problem : d.kind))).toEqual([
      'p/shop/web:40000',
      'p/shop/web:40001',
      'p/shop/web:40002',
      'p/shop/web:40003',
      'lost 6',
      'p/shop/web:40010',
    ]);
    stream.stop();
    emit(rec(11));
    expect(out.lines).toHaveLength(6);
  });
});
