// The node agent's wire protocol (src/daemon/protocol.ts), its server-side filters, the live stream's
// bounded per-subscriber queues (a slow client never blocks the agent; what it misses is told in-band)
// and the Prometheus text: real classes, fed connects as the cluster agent hands them over.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ConnectEvent } from '../../src/agent/event.js';
import type { PodConnect } from '../../src/cluster/cluster-agent.js';
import type { V1Pod } from '../../src/cluster/objects.js';
import { compileConnectFilter } from '../../src/daemon/connect-filter.js';
import { ConnectStream } from '../../src/daemon/connect-stream.js';
import { renderMetrics } from '../../src/daemon/metrics-text.js';
import { decodeLine, encodeConnect, encodeLine, encodeQuery, parseQuery, toStreamedConnect, WireError } from '../../src/daemon/protocol.js';
import { MinuteRate } from '../../src/daemon/rate.js';
import { podConnect } from '../support/pod-connect.js';

const mypod: V1Pod = { metadata: { name: 'mypod', namespace: 'default', labels: { run: 'mypod' } }, spec: { nodeName: 'n1', containers: [{ name: 'mypod' }] } };
const web: V1Pod = { metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } }, spec: { nodeName: 'n1', containers: [{ name: 'nginx' }] } };

function connect(pod: V1Pod, sport: number, outcome: ConnectEvent['outcome'] = 'established', time = new Date('2026-12-06T10:00:00.123Z')): PodConnect {
  const latencyNs = outcome === 'connecting' ? 0 : 1_234_567;
  return podConnect({
    pod,
    node: 'n1',
    container: pod.spec!.containers[0]!.name,
    time,
    tsNs: 18446744073709551615n,
    cgroupId: 9007199254740993n,
    pid: 4242,
    comm: 'wget',
    sport,
    daddr: '203.0.113.10',
    dport: 80,
    latencyNs,
    outcome,
    record: { ts: time.toISOString(), node: 'n1', ...(outcome !== 'connecting' ? { latencyNs, outcome: outcome as 'established' } : {}) },
  });
}

describe('wire protocol v1', () => {
  it('round-trips a connect, 64-bit fields included', () => {
    const c = connect(mypod, 46779);
    const line = encodeLine(c, 'answer');
    expect(line.endsWith('\n')).toBe(true);
    const decoded = decodeLine(line.trimEnd(), 'agent n1');
    expect(decoded).toEqual({ kind: 'connect', connect: encodeConnect(c, 'answer') });
    const s = toStreamedConnect(encodeConnect(c, 'answer'));
    expect(s.event).toEqual(c.event);
    expect(s.event.tsNs).toBe(18446744073709551615n);
    expect(s.time).toEqual(c.time);
    expect(s).toMatchObject({ when: 'answer', node: 'n1', source: { namespace: 'default', name: 'mypod', container: 'mypod' }, record: c.record });
  });

  it('reads {"lost":N}, and names the agent and field of a bad line', () => {
    expect(decodeLine('{"lost":7}', 'a')).toEqual({ kind: 'lost', lost: 7, counted: false });
    expect(decodeLine('{"lost":7,"counted":true}', 'a')).toEqual({ kind: 'lost', lost: 7, counted: true });
    const good = JSON.parse(encodeLine(connect(mypod, 1), 'connect')) as Record<string, any>;
    const bad = (mutate: (o: Record<string, any>) => void): string => {
      const o = structuredClone(good);
      mutate(o);
      return JSON.stringify(o);
    };
    expect(() => decodeLine('nope', 'agent n1')).toThrow(/^agent n1: line: not JSON/);
    expect(() => decodeLine(bad((o) => (o.v = 2)), 'agent n1')).toThrow(/^agent n1: v: version 2 is not 1/);
    expect(() => decodeLine(bad((o) => (o.when = 'later')), 'x')).toThrow(/^x: when: /);
    expect(() => decodeLine(bad((o) => (o.event.sport = -1)), 'x')).toThrow(/^x: event\.sport: not a non-negative integer/);
    expect(() => decodeLine(bad((o) => (o.event.tsNs = 5)), 'x')).toThrow(/^x: event\.tsNs: not a decimal string/);
    expect(() => decodeLine(bad((o) => (o.event.outcome = 'maybe')), 'x')).toThrow(/^x: event\.outcome: unknown outcome/);
    expect(() => decodeLine(bad((o) => delete o.flow.dst), 'x')).toThrow(WireError);
    expect(() => decodeLine('{"lost":-1}', 'x')).toThrow(/^x: lost: /);
    // Fields a newer agent adds are ignored.
    expect(decodeLine(bad((o) => (o.extra = { a: 1 })), 'x').kind).toBe('connect');
  });

  it('parses and encodes the query of /v1/connects; refuses unknown, empty and bad parameters', () => {
    const since = new Date('2026-12-06T10:00:00.000Z');
    const q = { namespace: 'shop', podname: 'web-1', selector: 'app in (web)', container: 'nginx', when: 'answer' as const, since };
    expect(parseQuery(new URLSearchParams(encodeQuery(q)))).toEqual(q);
    for (const proto of ['TCP', 'UDP', 'all'] as const) expect(parseQuery(new URLSearchParams(encodeQuery({ proto })))).toEqual({ proto });
    expect(() => parseQuery(new URLSearchParams('proto=sctp'))).toThrow(/^proto: "sctp" is not tcp, udp or all/);
    expect(parseQuery(new URLSearchParams(''))).toEqual({});
    expect(() => parseQuery(new URLSearchParams('pod=x'))).toThrow(/^pod: unknown parameter; known: namespace, podname/);
    expect(() => parseQuery(new URLSearchParams('namespace='))).toThrow(/^namespace: empty/);
    expect(() => parseQuery(new URLSearchParams('when=soon'))).toThrow(/^when: "soon" is not connect or answer/);
    expect(() => parseQuery(new URLSearchParams('since=yesterday'))).toThrow(/^since: "yesterday" is not an ISO 8601 time/);
  });
});

describe('server-side filters', () => {
  it('takes namespace (absent: all), podname, selector, container and when (default connect)', () => {
    const pick = (q: Parameters<typeof compileConnectFilter>[0], when: 'connect' | 'answer' = 'connect') =>
      [mypod, web].filter((p) => compileConnectFilter(q)(connect(p, 1), when)).map((p) => p.metadata!.name);
    expect(pick({})).toEqual(['mypod', 'web-1']);
    expect(pick({}, 'answer')).toEqual([]);
    expect(pick({ when: 'answer' }, 'answer')).toEqual(['mypod', 'web-1']);
    expect(pick({ namespace: 'shop' })).toEqual(['web-1']);
    expect(pick({ podname: 'mypod' })).toEqual(['mypod']);
    expect(pick({ selector: 'app in (web,api)' })).toEqual(['web-1']);
    expect(pick({ selector: '!app' })).toEqual(['mypod']);
    expect(pick({ container: 'nginx' })).toEqual(['web-1']);
    expect(() => compileConnectFilter({ selector: 'a in (' })).toThrow(/^selector: /);
  });

  it('takes proto: TCP by default (trace tcpconnect never sees the agent\'s UDP sends), udp or all', () => {
    const tcp = connect(mypod, 1, 'established');
    const udp = { ...connect(mypod, 2, 'established'), record: { ...connect(mypod, 2).record, proto: 'UDP' as const } };
    const pick = (q: Parameters<typeof compileConnectFilter>[0]) => [tcp, udp].filter((c) => compileConnectFilter({ ...q, when: 'answer' })(c, 'answer')).map((c) => c.record.proto);
    expect(pick({})).toEqual(['TCP']);
    expect(pick({ proto: 'UDP' })).toEqual(['UDP']);
    expect(pick({ proto: 'all' })).toEqual(['TCP', 'UDP']);
  });
});

/** A client socket that reads only when told: write() returns false past `capacity` bytes. */
class SlowClient extends Writable {
  data = '';
  private held: Array<() => void> = [];
  constructor(
    capacity: number,
    private readonly reads = false,
  ) {
    super({ highWaterMark: capacity });
  }
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.data += chunk.toString();
    if (this.reads) done();
    else this.held.push(done);
  }
  /** Lets the client read everything written so far. */
  readAll(): void {
    for (const done of this.held.splice(0)) done();
  }
  get lines(): string[] {
    return this.data.split('\n').filter(Boolean);
  }
}

describe('ConnectStream', () => {
  it('never blocks on a slow client: a bounded queue, the overflow counted and told in-band as {"lost":N} before the next connect', async () => {
    const stream = new ConnectStream({ queueLines: 3 });
    const slow = new SlowClient(1);
    const fast = new SlowClient(1 << 20, true);
    stream.subscribe({ when: 'answer' }, slow);
    stream.subscribe({ when: 'answer' }, fast);
    for (let i = 0; i < 10; i++) stream.publish(connect(mypod, 1000 + i), 'answer');
    fast.readAll();
    // The fast client got all ten; the slow one the first (in its socket) and 3 queued; 6 lost.
    expect(fast.lines).toHaveLength(10);
    expect(stream.status()).toMatchObject({ subscribers: 2, published: 10, lost: 6, backlog: 3 });
    for (let i = 0; i < 20 && slow.writableNeedDrain; i++) {
      slow.readAll();
      await new Promise((r) => setImmediate(r));
    }
    stream.publish(connect(mypod, 2000), 'answer');
    for (let i = 0; i < 20; i++) {
      slow.readAll();
      await new Promise((r) => setImmediate(r));
    }
    const got = slow.lines.map((l) => decodeLine(l, 'agent'));
    expect(got.map((l) => (l.kind === 'lost' ? `lost ${l.lost}` : String(l.connect.event.sport)))).toEqual(['1000', '1001', '1002', '1003', 'lost 6', '2000']);
    expect(stream.metrics().find((f) => f.name === 'netpol_stream_lost_total')!.samples[0]!.value).toBe(6);
  });

  it('replays the recent past for since=, filtered; answers not reported as made reach when=connect clients, the others do not', () => {
    const stream = new ConnectStream();
    const t0 = Date.now();
    stream.publish(connect(mypod, 1, 'connecting', new Date(t0 - 5000)), 'connect');
    stream.publish(connect(web, 2, 'connecting', new Date(t0 - 4000)), 'connect');
    stream.publish(connect(mypod, 3, 'connecting', new Date(t0 - 1000)), 'connect');
    const late = new SlowClient(1 << 20, true);
    stream.subscribe({ podname: 'mypod', since: new Date(t0 - 2000) }, late);
    late.readAll();
    expect(late.lines.map((l) => JSON.parse(l).event.sport)).toEqual([3]);

    const client = new SlowClient(1 << 20, true);
    const end = stream.subscribe({ podname: 'mypod' }, client);
    stream.publish(connect(mypod, 4), 'answer', true);
    stream.publish(connect(mypod, 5), 'answer');
    client.readAll();
    expect(client.lines.map((l) => [JSON.parse(l).when, JSON.parse(l).event.sport])).toEqual([['answer', 4]]);
    end();
    expect(stream.subscriberCount).toBe(1);
  });

  it('tells a since= replay and live clients how many connects the kernel counted instead of sending, in-band, only where their query takes them', () => {
    const stream = new ConnectStream();
    const t0 = Date.now();
    // The edge's first connect came through the ring; 40 repeats were counted in the kernel, swept
    // in two counts; an older count (before since=) and another pod's count are not this client's.
    stream.noteRepeats(connect(mypod, 1, 'established', new Date(t0 - 9000)), 7, new Date(t0 - 8000));
    stream.publish(connect(mypod, 1, 'established', new Date(t0 - 3000)), 'answer', true);
    stream.noteRepeats(connect(mypod, 1, 'established', new Date(t0 - 3000)), 25, new Date(t0 - 2000));
    stream.noteRepeats(connect(web, 2, 'established', new Date(t0 - 3000)), 100, new Date(t0 - 1500));
    stream.noteRepeats(connect(mypod, 1, 'established', new Date(t0 - 3000)), 15, new Date(t0 - 1000));
    // The second client's replay also has the count told live to the first.
    for (const [when, replayed] of [['connect', 40], ['answer', 43]] as const) {
      const late = new SlowClient(1 << 20, true);
      const end = stream.subscribe({ podname: 'mypod', when, since: new Date(t0 - 5000) }, late);
      // Swept after the client came (the sweep when dedup turns off): told live.
      stream.noteRepeats(connect(mypod, 1, 'established', new Date(t0 - 3000)), 3, new Date(t0));
      stream.noteRepeats(connect(web, 2, 'established', new Date(t0 - 3000)), 50, new Date(t0));
      late.readAll();
      const got = late.lines.map((l) => decodeLine(l, 'agent'));
      expect(got.map((l) => (l.kind === 'lost' ? `${l.counted ? 'counted' : 'lost'} ${l.lost}` : `${l.connect.when} ${l.connect.event.sport}`))).toEqual([
        'answer 1',
        `counted ${replayed}`,
        'counted 3',
      ]);
      end();
    }
    // Not a slow reader's loss: the stream's lost figure stays 0.
    expect(stream.status()).toMatchObject({ lost: 0 });
  });

  it('tells a slow client every counted connect once it catches up, never as a slow reader\'s loss', async () => {
    const stream = new ConnectStream({ queueLines: 3 });
    const slow = new SlowClient(1);
    stream.subscribe({ when: 'answer' }, slow);
    for (let i = 0; i < 6; i++) stream.publish(connect(mypod, 1000 + i), 'answer');
    // The queue is full: both counts wait, added up, behind the queued lines.
    stream.noteRepeats(connect(mypod, 1), 500, new Date());
    stream.noteRepeats(connect(mypod, 1), 20, new Date());
    for (let i = 0; i < 40; i++) {
      slow.readAll();
      await new Promise((r) => setImmediate(r));
    }
    const got = slow.lines.map((l) => decodeLine(l, 'agent'));
    expect(got.map((l) => (l.kind === 'lost' ? `${l.counted ? 'counted' : 'lost'} ${l.lost}` : String(l.connect.event.sport)))).toEqual([
      '1000',
      '1001',
      '1002',
      '1003',
      'lost 2',
      'counted 520',
    ]);
    expect(stream.status()).toMatchObject({ lost: 2 });
  });

  it('keeps the last replayEntries connects for since=, oldest first, however many went by (a ring)', () => {
    const stream = new ConnectStream({ replayEntries: 4 });
    const t0 = Date.now();
    for (let i = 1; i <= 11; i++) stream.publish(connect(mypod, i, 'connecting', new Date(t0 - 1000)), 'connect');
    expect(stream.status()).toMatchObject({ published: 11, replayEntries: 4 });
    const late = new SlowClient(1 << 20, true);
    stream.subscribe({ podname: 'mypod', since: new Date(t0 - 2000) }, late);
    late.readAll();
    expect(late.lines.map((l) => JSON.parse(l).event.sport)).toEqual([8, 9, 10, 11]);
  });
});

describe('Prometheus text', () => {
  it('renders HELP, TYPE and samples with escaped label values; refuses bad names and duplicates', () => {
    const text = renderMetrics([
      { name: 'netpol_connects_total', help: 'Connects.\nAll of them.', type: 'counter', samples: [{ value: 3 }] },
      { name: 'netpol_verdicts_total', help: 'By policy.', type: 'counter', samples: [{ labels: { policy: 'a"b\\c\nd', gate: 'egress' }, value: 1 }] },
    ]);
    expect(text).toBe(
      '# HELP netpol_connects_total Connects.\\nAll of them.\n# TYPE netpol_connects_total counter\nnetpol_connects_total 3\n' +
        '# HELP netpol_verdicts_total By policy.\n# TYPE netpol_verdicts_total counter\nnetpol_verdicts_total{policy="a\\"b\\\\c\\nd",gate="egress"} 1\n',
    );
    expect(() => renderMetrics([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }])).toThrow(/not a Prometheus name/);
    expect(() => renderMetrics([{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { 'a-b': '1' }, value: 1 }] }])).toThrow(/label name/);
    const f = { name: 'x', help: '', type: 'gauge' as const, samples: [] };
    expect(() => renderMetrics([f, f])).toThrow(/given twice/);
  });
});

describe('MinuteRate', () => {
  it('is the mean per second over the last full minute', () => {
    let now = 1_000_000;
    const rate = new MinuteRate(() => now);
    for (let s = 0; s < 120; s++) {
      rate.add(s < 60 ? 1 : 3);
      now += 1000;
    }
    expect(rate.perSecond()).toBe(3);
    now += 30_000;
    expect(rate.perSecond()).toBeCloseTo(1.5, 5);
  });
});
