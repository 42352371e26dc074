// The fields the aggregation fast path reads, taken two ways: from the bytes the scanner accepts,
// and from the ordinary path's record. Tests compare the two.
import { parseFlowLine } from '../../../src/flows/jsonl.js';
import { FlowLineScanner, IDENTITY_PARTS, latin1 } from '../../../src/flows/line-scan.js';
import type { LocatedFlow } from '../../../src/flows/record.js';

/** The ordinary path's reading of a line: the record, undefined for a blank line, or the error. */
export function ordinaryRead(buf: Buffer): LocatedFlow | Error | undefined {
  try {
    return parseFlowLine(buf.toString('utf8'), 'f.jsonl', 1);
  } catch (err) {
    return err as Error;
  }
}

/** What aggregation reads from a record: the identity's parts (strings, else undefined) and the rest. */
export function recordFields(rec: LocatedFlow) {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    identity: [str(rec.src.namespace), str(rec.src.pod), str(rec.src.ip), rec.dst.ip, str(rec.dst.namespace), str(rec.dst.pod), str(rec.dst.service)],
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
    identity: IDENTITY_PARTS.map((_, i) => text(s.parts[2 * i]!, s.parts[2 * i + 1]!)),
    dstPort: s.dstPort,
    proto: s.proto,
    outcome: s.outcome,
    ts: text(s.tsStart, s.tsEnd),
    id: text(s.idStart, s.idEnd),
  };
}
