// The fields the aggregation fast path reads, taken two ways: from the bytes the scanner accepts,
// and from the ordinary path's record. Tests compare the two.
import { parseFlowLine } from '../../../src/flows/jsonl.js';
import { FlowLineScanner, latin1 } from '../../../src/flows/line-scan.js';
import type { LocatedFlow } from '../../../src/flows/record.js';

/** The ordinary path's reading of a line: the record, undefined for a blank line, or the error. */
export function ordinaryRead(buf: Buffer): LocatedFlow | Error | undefined {
  try {
    return parseFlowLine(buf.toString('utf8'), 'f.jsonl', 1);
  } catch (err) {
    return err as Error;
  }
}

/** What aggregation reads from a record. */
export function recordFields(rec: LocatedFlow) {
  const src = rec.src;
  const isPod = typeof src.namespace === 'string' && typeof src.pod === 'string';
  return {
    ns: isPod ? src.namespace : undefined,
    pod: isPod ? src.pod : undefined,
    srcIp: isPod ? undefined : String(src.ip),
    dstIp: rec.dst.ip,
    dstPort: rec.dst.port,
    proto: rec.proto,
    outcome: rec.outcome,
    ts: rec.ts,
    id: rec.id,
  };
}

/** The scanner's fields of bytes it accepts, in the same terms; undefined when it leaves them. */
export function scannedFields(buf: Buffer, start = 0, end = buf.length) {
  const s = new FlowLineScanner();
  if (!s.scan(buf, start, end)) return undefined;
  const text = (a: number, b: number) => (a < 0 ? undefined : latin1(buf, a, b));
  return {
    ns: s.srcIsPod ? text(s.nsStart, s.nsEnd) : undefined,
    pod: s.srcIsPod ? text(s.podStart, s.podEnd) : undefined,
    srcIp: s.srcIsPod ? undefined : text(s.srcIpStart, s.srcIpEnd),
    dstIp: text(s.dstIpStart, s.dstIpEnd),
    dstPort: s.dstPort,
    proto: s.proto,
    outcome: s.outcome,
    ts: text(s.tsStart, s.tsEnd),
    id: text(s.idStart, s.idEnd),
  };
}
