import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONFIG_LAYOUT, CONFIG_SIZE, EDGE_KEY_LAYOUT, EDGE_KEY_SIZE, EVENT_LAYOUT, EVENT_SIZE, decodeEdgeKey, decodeEvent, encodeConfig, encodeEvent, type ConnectEvent } from '../../src/agent/event.js';
import { addressBytes, formatIPv6 } from '../../src/flows/ip.js';
import { OUTCOMES } from '../../src/flows/record.js';

/** clang's layout of the structs in bpf/tcpconnect.h: name → { field → offset, sizeof }. */
function clangLayouts(): Map<string, { fields: Map<string, number>; size: number }> {
  const src = '#include <linux/types.h>\n#include "tcpconnect.h"\nstruct tcpconnect_event e; struct tcpconnect_edge k; struct tcpconnect_config c;\n';
  const out = execFileSync('clang', ['-c', '-o', '/dev/null', '-Xclang', '-fdump-record-layouts', '-I', 'bpf', '-x', 'c', '-'], { input: src, encoding: 'utf8' });
  const layouts = new Map<string, { fields: Map<string, number>; size: number }>();
  let current: { fields: Map<string, number>; size: number } | undefined;
  for (const line of out.split('\n')) {
    const struct = /^\s+0 \| struct (\w+)$/.exec(line);
    if (struct?.[1]) {
      current = { fields: new Map(), size: 0 };
      layouts.set(struct[1], current);
      continue;
    }
    const field = /^\s+(\d+) \|   \S.* (\w+)$/.exec(line);
    if (field?.[1] && field[2] && current) current.fields.set(field[2], Number(field[1]));
    const size = /sizeof=(\d+)/.exec(line);
    if (size?.[1] && current) current.size = Number(size[1]);
  }
  return layouts;
}

describe('event decoder mirrors bpf/tcpconnect.h', () => {
  // Each struct as one table: every field clang lays out (padding included) with its offset, and
  // the size. A field added to, removed from or moved in the header, or a table entry that no
  // longer names a field, fails here.
  const mirrored = [
    { struct: 'tcpconnect_event', layout: EVENT_LAYOUT, size: EVENT_SIZE },
    { struct: 'tcpconnect_config', layout: CONFIG_LAYOUT, size: CONFIG_SIZE },
    { struct: 'tcpconnect_edge', layout: EDGE_KEY_LAYOUT, size: EDGE_KEY_SIZE },
  ];
  it.each(mirrored)('has every field offset and the size clang gives struct $struct', ({ struct, layout, size }) => {
    const clang = clangLayouts().get(struct);
    expect(clang, `clang laid out no struct ${struct}`).toBeDefined();
    expect(Object.fromEntries(clang!.fields)).toEqual(layout);
    expect(clang!.size).toBe(size);
  });

  it('round-trips any event', () => {
    const ipv4 = fc.ipV4();
    const ipv6 = fc.ipV6().map((ip) => formatIPv6(addressBytes(ip, 6)));
    const event = fc
      .record({
        tsNs: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }),
        latencyNs: fc.integer({ min: 0, max: 2 ** 40 }),
        cgroupId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        pid: fc.nat(),
        tid: fc.nat(),
        uid: fc.nat(),
        gid: fc.nat(),
        mntns: fc.nat(),
        netns: fc.nat(),
        v6: fc.boolean(),
        s4: ipv4,
        d4: ipv4,
        s6: ipv6,
        d6: ipv6,
        sport: fc.integer({ min: 0, max: 65535 }),
        dport: fc.integer({ min: 0, max: 65535 }),
        outcome: fc.constantFrom(...OUTCOMES, 'connecting' as const, 'sent' as const),
        source: fc.constantFrom('state' as const, 'syscall' as const, 'connect' as const, 'udp' as const),
        proto: fc.constantFrom('TCP' as const, 'UDP' as const),
        errno: fc.integer({ min: 0, max: 200 }),
        comm: fc.stringMatching(/^[a-z0-9-]{0,15}$/),
      })
      .map(({ v6, s4, d4, s6, d6, ...rest }): ConnectEvent => ({ ...rest, family: v6 ? 6 : 4, saddr: v6 ? s6 : s4, daddr: v6 ? d6 : d4 }));
    fc.assert(
      fc.property(event, (e) => {
        expect(decodeEvent(encodeEvent(e))).toEqual(e);
      }),
    );
  });

  it('decodes each event\'s own addresses and cgroup id when consecutive events repeat, alternate or change them (the decoder keeps the last ones)', () => {
    const base: ConnectEvent = { tsNs: 1n, latencyNs: 0, cgroupId: 2n, pid: 3, tid: 3, uid: 0, gid: 0, mntns: 1, netns: 1, family: 4, saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 1, dport: 2, outcome: 'connecting', source: 'connect', proto: 'TCP', errno: 0, comm: 'x' };
    const steps: Partial<ConnectEvent>[] = [
      {},
      {},
      { saddr: '10.0.0.1' },
      { saddr: '10.0.0.1', daddr: '198.51.100.7' },
      {},
      { family: 6, saddr: 'fd00::1', daddr: '::1' },
      {},
      { daddr: '127.0.0.2' },
      { saddr: '1.0.0.127' }, // the same bytes in another order
      { cgroupId: 2n ** 32n + 2n }, // the same low half
      { cgroupId: 2n },
      { cgroupId: 2n ** 64n - 1n },
      { cgroupId: 2n ** 64n - 1n, saddr: '255.255.255.255', daddr: '0.0.0.0' },
      {},
    ];
    for (const step of steps) {
      const e = { ...base, ...step };
      expect(decodeEvent(encodeEvent(e))).toEqual(e);
    }
  });

  it('decodes each event\'s own comm when consecutive events share, extend or shorten it (the decoder keeps the last one)', () => {
    const base = decodeEvent(encodeEvent({ tsNs: 1n, latencyNs: 0, cgroupId: 2n, pid: 3, tid: 3, uid: 0, gid: 0, mntns: 1, netns: 1, family: 4, saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 1, dport: 2, outcome: 'connecting', source: 'connect', proto: 'TCP', errno: 0, comm: 'x' }));
    const comms = ['abc', 'abc', 'abcd', 'abc', '', 'abc', 'fifteen-chars-x', 'fifteen-chars-y', 'é-ü', 'é-ü', 'abc'];
    for (const comm of comms) expect(decodeEvent(encodeEvent({ ...base, comm })).comm).toBe(comm);
    // Bytes after the terminator are not part of the name, whatever they are.
    const raw = encodeEvent({ ...base, comm: 'ab' });
    raw.write('zzzz', 96 + 3, 'latin1');
    expect(decodeEvent(raw).comm).toBe('ab');
    const full = encodeEvent({ ...base, comm: 'ab' });
    full.write('abcdefghijklmnop', 96, 'latin1'); // 16 bytes, no terminator
    expect(decodeEvent(full).comm).toBe('abcdefghijklmnop');
    expect(decodeEvent(raw).comm).toBe('ab');
  });

  it('decodes a record straight from an ArrayBuffer view and rejects short or unknown records', () => {
    const e: ConnectEvent = {
      tsNs: 5n,
      latencyNs: 47069,
      cgroupId: 158n,
      pid: 2021739,
      tid: 2021740,
      uid: 0,
      gid: 0,
      mntns: 4026531840,
      netns: 4026531833,
      family: 4,
      saddr: '172.17.0.2',
      daddr: '198.51.100.7',
      sport: 4784,
      dport: 80,
      outcome: 'established',
      source: 'state',
      proto: 'TCP',
      errno: 0,
      comm: 'wget',
    };
    const buf = encodeEvent(e);
    const ab = (buf.buffer as ArrayBuffer).slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    expect(decodeEvent(ab)).toEqual(e);
    expect(() => decodeEvent(new Uint8Array(50))).toThrow(/too short/);
    const bad = Buffer.from(buf);
    bad[86] = 9;
    expect(() => decodeEvent(bad)).toThrow(/unknown outcome 9/);
  });

  it('formats IPv6 the RFC 5952 way', () => {
    expect(formatIPv6(addressBytes('2001:db8:0:0:0:0:0:1', 6))).toBe('2001:db8::1');
    expect(formatIPv6(addressBytes('::1', 6))).toBe('::1');
    expect(formatIPv6(addressBytes('::', 6))).toBe('::');
    expect(formatIPv6(addressBytes('2001:db8:0:1:0:0:1:1', 6))).toBe('2001:db8:0:1::1:1');
    expect(formatIPv6(addressBytes('::ffff:198.51.100.1', 6))).toBe('::ffff:198.51.100.1');
    expect(formatIPv6(addressBytes('fe80::1:0:0:0', 6))).toBe('fe80::1:0:0:0') // equal runs: the first is compressed;
  });

  it('encodes the config and decodes edge keys', () => {
    expect([...encodeConfig({ filters: 0b101, dedupEdges: true })]).toEqual([5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
    expect([...encodeConfig({ filters: 0, dedupEdges: false, reportConnects: true })]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    expect([...encodeConfig({ filters: 0, dedupEdges: false, reportConnects: true, stateAttached: false })]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect([...encodeConfig({ filters: 0, dedupEdges: false, reportConnects: true, alsoAnswers: true })]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]);
    const key = Buffer.alloc(EDGE_KEY_SIZE);
    key.writeBigUInt64LE(158n, 0);
    key.writeUInt32LE(4026531833, 8);
    key.writeUInt16LE(2, 12);
    key.writeUInt16LE(443, 14);
    addressBytes('203.0.113.9', 4).copy(key, 16);
    key.writeUInt8(2, 32);
    expect(decodeEdgeKey(key)).toEqual({ cgroupId: 158n, netns: 4026531833, family: 4, dport: 443, daddr: '203.0.113.9', outcome: 'refused' });
  });
});
