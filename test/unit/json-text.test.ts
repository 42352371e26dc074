// compileJsonText (the `-o json` text of a row, written without building and walking an object)
// against JSON.stringify of the object view, byte for byte: the trace columns of both modes over
// many rows with awkward values, and generic columns with every kind of value JSON knows.
import { describe, expect, it } from 'vitest';
import type { ConnectEvent } from '../../src/agent/event.js';
import type { Column } from '../../src/cli/output/columns/model.js';
import { compileJson, compileJsonText, jsonText } from '../../src/cli/output/columns/json.js';
import { K8S_TCPCONNECT_COLUMNS, TCPCONNECT_COLUMNS, type TraceRow } from '../../src/cli/output/trace-columns.js';

/** A small deterministic generator (the failures must reproduce). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const AWKWARD = ['', 'wget', 'a"b', 'back\\slash', 'tab\there', 'nl\n', '\u0000\u001f', 'é ü 漢字', '\ud83d\ude00', 'lone \ud800', 'lone \udc00 low', '</script>', '\u2028\u2029', '\u007f'];

function traceRow(r: () => number, i: number): TraceRow {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const outcomes: ConnectEvent['outcome'][] = ['established', 'refused', 'timeout', 'closed', 'error', 'connecting', 'sent'];
  const family = r() < 0.5 ? 4 : 6;
  const event: ConnectEvent = {
    tsNs: BigInt(i) * 1000n,
    latencyNs: pick([0, 1, 47_069, 1_006_814_808, 2 ** 40]),
    cgroupId: BigInt(Math.floor(r() * 2 ** 40)),
    pid: Math.floor(r() * 4e6),
    tid: Math.floor(r() * 4e6),
    uid: pick([0, 65534, 4294967295]),
    gid: 0,
    mntns: 4026531841,
    netns: 4026531840,
    family,
    saddr: family === 4 ? '10.0.0.1' : 'fd00::1',
    daddr: family === 4 ? '127.0.0.1' : '::1',
    sport: Math.floor(r() * 65536),
    dport: Math.floor(r() * 65536),
    outcome: pick(outcomes),
    source: 'state',
    proto: 'TCP',
    errno: pick([0, 101, 111, 110, 99999]),
    comm: pick(AWKWARD),
  };
  const container = r() < 0.3 ? null : { id: 'f'.repeat(64), name: pick(AWKWARD), image: pick(AWKWARD), labels: {}, runtime: 'docker' as const, ips: [] };
  const k8s = r() < 0.5 ? undefined : { node: pick(AWKWARD), namespace: 'ns', pod: pick(AWKWARD), container: 'c', src: 'p/ns/pod:1', dst: 'r/1.1.1.1:80', dstKind: 'raw' as const, ...(r() < 0.5 ? { dstNamespace: 'x', dstName: pick(AWKWARD) } : {}) };
  return { event, container, time: new Date(1_796_579_792_813 + i * 7), ...(k8s ? { extra: { k8s } } : {}) };
}

describe('compileJsonText', () => {
  it('writes what JSON.stringify writes for the trace columns, both modes, over 2,000 rows of awkward values', () => {
    const r = rng(13);
    for (const columns of [TCPCONNECT_COLUMNS, K8S_TCPCONNECT_COLUMNS]) {
      const object = compileJson(columns);
      const text = compileJsonText(columns);
      for (let i = 0; i < 2000; i++) {
        const row = traceRow(r, i);
        expect(text(row)).toBe(JSON.stringify(object(row)));
      }
    }
  });

  it('matches JSON.stringify for every kind of value, nested paths out of order, a repeated path and omitted values', () => {
    type Row = { v: unknown };
    const values: unknown[] = [
      undefined, null, true, false, 0, -0, 1.5, -1e21, 1e-7, NaN, Infinity, -Infinity, 'x', 'q"\\\n', [1, undefined, 'a', [null]], { a: 1, b: undefined, c: { d: [] } },
      { 2: 'two', 1: 'one', z: 0 }, new Date(0), { toJSON: () => 'custom' }, () => 1, Symbol('s'), Object.create(null) as object, new Map([[1, 2]]), [() => 1, Symbol('t')],
    ];
    const columns: Column<Row>[] = [
      { name: 'A', text: () => '', json: { path: 'outer.a', value: (row) => row.v } },
      { name: 'B', text: () => '', json: { path: 'b', value: (row) => row.v } },
      { name: 'C', text: () => '', json: { path: 'outer.deeper.c', value: () => 'c' } },
      { name: 'D', text: () => '', json: { path: 'b', value: () => 'overwritten in place' } },
      { name: 'E', text: () => '' },
      { name: 'F', text: () => '', json: { path: 'outer.f', value: (row) => [row.v] } },
    ];
    const object = compileJson(columns);
    const text = compileJsonText(columns);
    for (const v of values) expect(text({ v }), String(typeof v)).toBe(JSON.stringify(object({ v })));
    for (const v of values) expect(jsonText(v)).toBe(JSON.stringify(v));
  });

  it("writes a column's declared JSON text without building its value, and repeated rows alike", () => {
    let built = 0;
    const columns: Column<{ port: number; name: string }>[] = [
      {
        name: 'SRC',
        text: () => '',
        json: {
          path: 'src',
          value: (r) => {
            built++;
            return { port: r.port };
          },
          text: (r) => `{"port":${r.port}}`,
        },
      },
      { name: 'NAME', text: () => '', json: { path: 'meta.name', value: (r) => r.name } },
    ];
    const text = compileJsonText(columns);
    expect(text({ port: 1, name: 'a' })).toBe('{"src":{"port":1},"meta":{"name":"a"}}');
    expect(text({ port: 1, name: 'a' })).toBe('{"src":{"port":1},"meta":{"name":"a"}}');
    expect(text({ port: 2, name: 'a' })).toBe('{"src":{"port":2},"meta":{"name":"a"}}');
    expect(text({ port: 2, name: 'b"' })).toBe('{"src":{"port":2},"meta":{"name":"b\\""}}');
    expect(built).toBe(0);
  });

  it('leaves index-like keys (which objects order first) to the object view', () => {
    const columns: Column<{ n: number }>[] = [
      { name: 'Z', text: () => '', json: { path: 'z', value: (r) => r.n } },
      { name: 'ONE', text: () => '', json: { path: '1', value: () => 'one' } },
    ];
    expect(compileJsonText(columns)({ n: 5 })).toBe('{"1":"one","z":5}');
  });
});
