// `trace tcpconnect -o json` lines written as bytes (TraceJsonLines, src/cli/output/trace-json.ts)
// against the JSON view they stand in for: JSON.stringify of the column declaration's object and
// compileJsonText, byte for byte, on events through the real decoder (ring-buffer records encoded and
// decoded) and on awkward values, with rows that change one field at a time (each segment the
// writer keeps must be rebuilt exactly when a value it holds changes).
import { describe, expect, it } from 'vitest';
import type { ContainerInfo } from '../../src/agent/containers.js';
import { decodeEvent, encodeEvent, EVENT_LAYOUT, EVENT_SIZE, type ConnectEvent } from '../../src/agent/event.js';
import { ByteBatch } from '../../src/cli/output/byte-batch.js';
import { compileJson, compileJsonText } from '../../src/cli/output/columns/json.js';
import { K8S_TCPCONNECT_COLUMNS, TCPCONNECT_COLUMNS, type TraceRow } from '../../src/cli/output/trace-columns.js';
import { TRACE_JSON_PATHS, TraceJsonLines, traceJsonWriter } from '../../src/cli/output/trace-json.js';

/** A small deterministic generator (the failures must reproduce). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// Awkward text: quotes, backslashes, control characters, non-ASCII (UTF-8 of 2, 3 and 4 bytes), lone
// surrogates (escaped by JSON.stringify), the separators JSON leaves alone.
const AWKWARD = ['', 'wget', 'connect-storm', 'a"b', 'back\\slash', 'tab\there', 'nl\n', '\u0000\u001f', 'é ü 漢字', '\ud83d\ude00', 'lone \ud800', 'lone \udc00 low', '\u2028\u2029', '\u007f'];
// What the kernel's 16-byte comm can hold (15 bytes and a NUL): UTF-8, cut by the encoder.
const COMMS = ['curl', 'connect-storm', 'nginx: worker', 'é ü 漢字', '\ud83d\ude00 emoji', 'a"b\\c', 'tab\there', 'x'.repeat(15)];
const CONTAINERS: (ContainerInfo | null)[] = [
  null,
  { id: 'f'.repeat(64), name: 'web', image: 'nginx:1.27', labels: {}, runtime: 'docker', ips: [] },
  // The same but for one field each: the name, the image, the runtime, the id.
  { id: 'f'.repeat(64), name: 'web-2', image: 'nginx:1.27', labels: {}, runtime: 'docker', ips: [] },
  { id: 'f'.repeat(64), name: 'web', image: 'nginx:1.28', labels: {}, runtime: 'docker', ips: [] },
  { id: 'f'.repeat(64), name: 'web', image: 'nginx:1.27', labels: {}, runtime: 'containerd', ips: [] },
  { id: 'e'.repeat(64), name: 'web', image: 'nginx:1.27', labels: {}, runtime: 'docker', ips: [] },
  { id: 'a'.repeat(64), name: 'db "main"', image: 'registry.example/pg:16 \u2028', labels: {}, runtime: 'containerd', ips: [] },
  { id: '0123456789ab'.repeat(5) + 'cdef', name: 'é ü 漢字 \ud83d\ude00', image: '', labels: {}, runtime: 'cri-o' as ContainerInfo['runtime'], ips: [] },
];
const ADDRS: Record<4 | 6, string[]> = {
  4: ['127.0.0.1', '10.244.1.7', '198.51.100.20', '0.0.0.0', '255.255.255.255'],
  6: ['::1', 'fd00::1', '2001:db8:85a3::8a2e:370:7334', '::ffff:198.51.100.7', 'fe80::1'],
};
const OUTCOMES: ConnectEvent['outcome'][] = ['connecting', 'established', 'refused', 'timeout', 'closed', 'error', 'sent'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

/** The next row: the last one with one to three of its values changed (or a fresh one). */
function nextRow(r: () => number, last: TraceRow | undefined, i: number): TraceRow {
  const e: ConnectEvent = last
    ? { ...last.event }
    : { tsNs: 0n, latencyNs: 0, cgroupId: 1n, pid: 1, tid: 1, uid: 0, gid: 0, mntns: 4026531841, netns: 4026531840, family: 4, saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 1, dport: 80, outcome: 'connecting', source: 'connect', proto: 'TCP', errno: 0, comm: 'curl' };
  let container = last ? last.container : null;
  let time = last ? last.time.getTime() : 1_796_579_792_813;
  const changes = 1 + Math.floor(r() * 3);
  for (let k = 0; k < changes; k++) {
    switch (Math.floor(r() * 17)) {
      case 0: time += pick(r, [0, 0, 1, 7, 86_400_000]); break;
      case 1: container = pick(r, CONTAINERS); break;
      case 2: e.cgroupId = pick(r, [1n, 2n, 12345n, 2n ** 53n + 1n, 2n ** 64n - 1n]); break;
      case 3: e.mntns = pick(r, [4026531841, 4026532000, 0]); break;
      case 4: e.netns = pick(r, [4026531840, 4026532111, 0]); break;
      case 5: e.pid = pick(r, [1, 9, 10, 4242, 99999, 4194304, 2147483647, 4294967295]); break;
      case 6: e.tid = pick(r, [1, 4243, 4244, 4194303, 4294967295]); break;
      case 7: e.uid = pick(r, [0, 1000, 65534, 4294967295]); break;
      case 8: e.gid = pick(r, [0, 1000, 4294967295]); break;
      case 9: e.comm = pick(r, AWKWARD); break;
      case 10: {
        const family = e.family === 4 ? 6 : 4;
        e.family = family;
        e.saddr = pick(r, ADDRS[family]);
        e.daddr = pick(r, ADDRS[family]);
        break;
      }
      case 11:
        // Mostly a new source address; now and then the family alone (no event has both, but the line must still follow).
        if (r() < 0.8) e.saddr = pick(r, ADDRS[e.family]);
        else e.family = e.family === 4 ? 6 : 4;
        break;
      case 12: e.sport = pick(r, [0, 1, 32768, 40000, 65535]); break;
      case 13: e.daddr = pick(r, ADDRS[e.family]); break;
      case 14: e.dport = pick(r, [0, 53, 80, 443, 8080, 65535]); break;
      case 15: e.latencyNs = pick(r, [0, 1, 47_069, 1_006_814_808, 2 ** 40, 2 ** 53 - 1]); break;
      default: {
        e.outcome = pick(r, OUTCOMES);
        e.errno = e.outcome === 'error' || r() < 0.2 ? pick(r, [0, 101, 110, 111, 113, 99999, -5]) : 0;
      }
    }
  }
  return { event: e, container, time: new Date(time) };
}

/** What `-o json` wrote before: the declaration's object, stringified, and a newline. */
function expectedLines(rows: TraceRow[]): string {
  const object = compileJson(TCPCONNECT_COLUMNS);
  return rows.map((row) => JSON.stringify(object(row)) + '\n').join('');
}

describe('TraceJsonLines', () => {
  it('writes the JSON paths of the trace columns, in order (a column added or moved must be written here too)', () => {
    expect(TCPCONNECT_COLUMNS.flatMap((c) => (c.json ? [c.json.path] : []))).toEqual([...TRACE_JSON_PATHS]);
  });

  it('writes what JSON.stringify writes, over 20,000 rows changing one to three values at a time', () => {
    const r = rng(7);
    const rows: TraceRow[] = [];
    for (let i = 0; i < 20_000; i++) rows.push(nextRow(r, rows[rows.length - 1], i));
    const lines = new TraceJsonLines();
    const out = new ByteBatch();
    const taken: Buffer[] = [];
    for (const row of rows) {
      lines.write(row, out);
      if (r() < 0.01) taken.push(out.take()!);
    }
    taken.push(out.take()!);
    const got = Buffer.concat(taken);
    const want = Buffer.from(expectedLines(rows), 'utf8');
    if (!got.equals(want)) {
      // Name the first line that differs, with its row.
      const g = got.toString('utf8').split('\n');
      const w = want.toString('utf8').split('\n');
      const at = w.findIndex((line, i) => line !== g[i]);
      expect({ line: at, got: g[at] }).toEqual({ line: at, got: w[at] });
    }
    expect(got.equals(want)).toBe(true);
    // And compileJsonText (the text view `trace` wrote before) agrees with both.
    const text = compileJsonText(TCPCONNECT_COLUMNS);
    expect(rows.map((row) => text(row) + '\n').join('')).toBe(want.toString('utf8'));
  });

  it('writes what JSON.stringify writes for events through the real decoder: unicode comm, IPv6, errors, containers', () => {
    const r = rng(11);
    const rows: TraceRow[] = [];
    for (let i = 0; i < 3000; i++) {
      const family = r() < 0.5 ? 4 : 6;
      const outcome = pick(r, OUTCOMES);
      const recorded: ConnectEvent = {
        tsNs: BigInt(i) * 40_000n,
        latencyNs: outcome === 'connecting' ? 0 : pick(r, [0, 12_345, 1_006_814_808]),
        cgroupId: pick(r, [1n, 4242n, 2n ** 63n + 5n]),
        pid: 1000 + (i % 3),
        tid: 2000 + (i % 5),
        uid: pick(r, [0, 1000]),
        gid: 0,
        mntns: 4026531841,
        netns: pick(r, [4026531840, 4026532222]),
        family,
        saddr: pick(r, ADDRS[family]),
        daddr: pick(r, ADDRS[family]),
        sport: 32768 + i,
        dport: pick(r, [53, 80, 8080]),
        outcome,
        source: 'connect',
        proto: outcome === 'sent' ? 'UDP' : 'TCP',
        errno: outcome === 'error' ? pick(r, [101, 111, 113]) : 0,
        comm: pick(r, COMMS),
      };
      // The record as the kernel writes it, decoded as the tracer decodes it.
      const event = decodeEvent(encodeEvent(recorded));
      rows.push({ event, container: pick(r, CONTAINERS), time: new Date(1_796_579_792_813 + Math.floor(i / 25)) });
    }
    expect(rows.some((row) => row.event.comm !== 'curl' && /[^\x00-\x7f]/.test(row.event.comm))).toBe(true);
    const lines = new TraceJsonLines();
    const out = new ByteBatch();
    for (const row of rows) lines.write(row, out);
    expect(out.take()!.toString('utf8')).toBe(expectedLines(rows));
  });

  it.each([
    ['one source', 1],
    ['three sources taking turns at random (two storms and a server: the two keys kept and the third evicting them)', 3],
  ])('writeRecord writes from ring records what write() writes for them decoded, over 20,000 records changing one to three values at a time, mixed with write(): %s', (_name, sources) => {
    const r = rng(13 + sources);
    const rows: TraceRow[] = [];
    const last: (TraceRow | undefined)[] = [];
    for (let i = 0; i < 20_000; i++) {
      // Each source changes one to three values now and then; between, its records repeat (sport, time aside).
      const from = Math.floor(r() * sources);
      const prev = last[from];
      const row = prev && r() < 0.7 ? { ...prev, event: { ...prev.event, sport: (prev.event.sport + 1) % 65536 } } : nextRow(r, prev, i);
      last[from] = row;
      rows.push(row);
    }
    // The records laid out as in the ring (8-byte header, 8-byte aligned), with bytes the decoder
    // ignores set at random now and then (an IPv4 address's other 12 bytes, comm after its NUL,
    // padding, ts_ns, source): they may only cost a rebuilt segment, never change a line.
    const stride = 8 + EVENT_SIZE;
    const ring = new Uint8Array(rows.length * stride);
    const view = new DataView(ring.buffer);
    const decoded: TraceRow[] = [];
    rows.forEach((row, i) => {
      // nextRow may flip the family alone; a record holds addresses of its family.
      const e = { ...row.event };
      if (!ADDRS[e.family].includes(e.saddr)) e.saddr = ADDRS[e.family][i % 5]!;
      if (!ADDRS[e.family].includes(e.daddr)) e.daddr = ADDRS[e.family][(i + 1) % 5]!;
      const rec = encodeEvent(e);
      if (r() < 0.05) {
        if (row.event.family === 4) for (let k = 4; k < 16; k++) rec[EVENT_LAYOUT.saddr + k] = Math.floor(r() * 256);
        if (row.event.family === 4) for (let k = 4; k < 16; k++) rec[EVENT_LAYOUT.daddr + k] = Math.floor(r() * 256);
        const nul = rec.indexOf(0, EVENT_LAYOUT.comm);
        if (nul >= 0 && nul < EVENT_LAYOUT.comm + 15) rec[nul + 1] = 0x41;
        rec[EVENT_LAYOUT._pad] = 0xff;
        rec[EVENT_LAYOUT.source] = 3;
        rec.writeBigUInt64LE(BigInt(i) * 12345n, EVENT_LAYOUT.ts_ns);
      }
      ring.set(rec, i * stride + 8);
      decoded.push({ event: decodeEvent(rec), container: row.container, time: row.time });
    });
    const lines = new TraceJsonLines();
    const out = new ByteBatch();
    const taken: Buffer[] = [];
    let general = 0;
    decoded.forEach((row, i) => {
      if (r() < 0.02) {
        lines.write(row, out);
        general++;
      } else lines.writeRecord(view, ring, i * stride + 8, row.container, row.time.getTime(), out);
      if (r() < 0.01) taken.push(out.take()!);
    });
    taken.push(out.take()!);
    expect(general).toBeGreaterThan(100);
    const got = Buffer.concat(taken).toString('utf8').split('\n');
    const want = expectedLines(decoded).split('\n');
    const at = want.findIndex((line, i) => line !== got[i]);
    expect(at === -1 ? null : { line: at, got: got[at], row: decoded[at] }).toEqual(at === -1 ? null : { line: at, got: want[at], row: decoded[at] });
    expect(got.length).toBe(want.length);
  });

  it('writeRecord: a record it cannot decode throws as the decoder does and leaves no part of its line', () => {
    const r = rng(17);
    const good = nextRow(r, undefined, 0);
    const rec = encodeEvent(good.event);
    const bad = Buffer.from(rec);
    bad[EVENT_LAYOUT.outcome] = 99;
    const lines = new TraceJsonLines();
    const out = new ByteBatch();
    const v = (b: Buffer) => new DataView(b.buffer, b.byteOffset, b.byteLength);
    lines.writeRecord(v(rec), rec, 0, null, good.time.getTime(), out);
    expect(() => lines.writeRecord(v(bad), bad, 0, null, good.time.getTime(), out)).toThrow(/unknown outcome 99/);
    lines.writeRecord(v(rec), rec, 0, null, good.time.getTime(), out);
    const row = { event: decodeEvent(rec), container: null, time: good.time };
    expect(out.take()!.toString('utf8')).toBe(expectedLines([row, row]));
  });

  it('leaves no part of a line whose row throws, and goes on with the next rows', () => {
    const lines = new TraceJsonLines();
    const out = new ByteBatch();
    const r = rng(3);
    const good = nextRow(r, undefined, 0);
    lines.write(good, out);
    // An invalid time: toISOString throws (RangeError), as the text view does.
    const bad: TraceRow = { ...good, time: new Date(Number.NaN) };
    expect(() => lines.write(bad, out)).toThrow(RangeError);
    expect(() => compileJsonText(TCPCONNECT_COLUMNS)(bad)).toThrow(RangeError);
    const next = nextRow(r, good, 1);
    lines.write(next, out);
    expect(out.take()!.toString('utf8')).toBe(expectedLines([good, next]));
  });
});

describe('traceJsonWriter', () => {
  it('writes the trace columns through TraceJsonLines, and other column lists (cluster mode, an extra column) through compileJsonText', () => {
    const r = rng(5);
    const rows: TraceRow[] = [];
    for (let i = 0; i < 500; i++) rows.push(nextRow(r, rows[rows.length - 1], i));
    const extra = [...TCPCONNECT_COLUMNS, { name: 'EXTRA', text: () => '', json: { path: 'extra', value: (row: TraceRow) => row.event.pid * 2 } }];
    for (const columns of [TCPCONNECT_COLUMNS, K8S_TCPCONNECT_COLUMNS, extra]) {
      const write = traceJsonWriter(columns);
      const out = new ByteBatch();
      for (const row of rows) write(row, out);
      const object = compileJson(columns);
      expect(out.take()!.toString('utf8')).toBe(rows.map((row) => JSON.stringify(object(row)) + '\n').join(''));
    }
  });
});
