// FlowRecord.observed: the protocols the recorder was observing. Checked the same way by the
// ordinary path (parseFlowRecord) and the aggregation fast path (line-scan), so a recording with
// the mark stays on the fast path and a bad mark is an error naming the field.
import { describe, expect, it } from 'vitest';
import { parseFlowLine } from '../../src/flows/jsonl.js';
import { recordedWithUdp } from '../../src/flows/record.js';
import { InputError } from '../../src/errors.js';
import { ordinaryRead, recordFields, scannedFields } from './support/flow-fields.js';

const LINE = (observed: string) =>
  `{"v":1,"ts":"2026-12-06T10:00:00.000Z","node":"n1","proto":"UDP","src":{"ip":"10.0.0.1","port":40000,"namespace":"local","pod":"c","container":"c","pid":1,"comm":"nc"},"dst":{"ip":"198.51.100.20","port":5353},"latencyNs":0,"observed":${observed}}`;

describe('observed protocols on a flow record', () => {
  it('is read by the fast path and the ordinary path alike', () => {
    for (const observed of ['["TCP","UDP"]', '["TCP"]', '[]', '[ "TCP" , "UDP" ]']) {
      const buf = Buffer.from(LINE(observed));
      const fast = scannedFields(buf);
      expect(fast, observed).toBeDefined();
      const rec = ordinaryRead(buf);
      expect(rec, observed).not.toBeInstanceOf(Error);
      expect(fast).toEqual(recordFields(rec as never));
    }
  });

  it('is an error naming the field when it is not a list of protocols, and the fast path leaves such lines', () => {
    for (const observed of ['"UDP"', '["udp"]', '["TCP","ICMP"]', '[1]', 'null', '["TCP",]']) {
      const line = LINE(observed);
      expect(scannedFields(Buffer.from(line)), observed).toBeUndefined();
      if (observed === '["TCP",]') continue; // not JSON at all: the JSON error
      let err: unknown;
      try {
        parseFlowLine(line, 'rec.jsonl', 7);
      } catch (e) {
        err = e;
      }
      expect(err, observed).toBeInstanceOf(InputError);
      expect(String((err as Error).message)).toMatch(/rec\.jsonl.*7.*observed/);
    }
  });

  it('says UDP was observed only when the list holds UDP', () => {
    const read = (o: string) => parseFlowLine(LINE(o), 'f', 1)!;
    expect(recordedWithUdp(read('["TCP","UDP"]'))).toBe(true);
    expect(recordedWithUdp(read('["TCP"]'))).toBe(false);
    const old = parseFlowLine('{"v":1,"proto":"TCP","src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2","port":80}}', 'f', 1)!;
    expect(recordedWithUdp(old)).toBe(false);
  });
});
