// Trace from the agents, a stream reopened after a broken connection: it asks the agent's replay
// for the past from the last connect seen (since=), and what was already printed is skipped, so
// nothing is printed twice and nothing after the break is missed. Real ConnectStream, real wire.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Delivered } from '../../src/cli/commands/trace/delivered.js';
import type { PodConnect } from '../../src/cluster/cluster-agent.js';
import { ConnectStream } from '../../src/daemon/connect-stream.js';
import { decodeLine, type WireConnect } from '../../src/daemon/protocol.js';

function connect(sport: number, time: Date): PodConnect {
  const pod = { metadata: { name: 'mypod', namespace: 'default' }, spec: { containers: [{ name: 'mypod' }] } };
  return {
    event: { tsNs: BigInt(time.getTime()) * 1_000_000n, latencyNs: 5, cgroupId: 1n, pid: 7, tid: 7, uid: 0, gid: 0, mntns: 1, netns: 2, family: 4, saddr: '10.244.0.5', daddr: '203.0.113.10', sport, dport: 80, outcome: 'established', source: 'state', proto: 'TCP', errno: 0, comm: 'wget' },
    time,
    node: 'n1',
    source: { pod, namespace: 'default', name: 'mypod', container: 'mypod' },
    record: { v: 1, proto: 'TCP', src: { ip: '10.244.0.5', port: sport }, dst: { ip: '203.0.113.10', port: 80 } },
  };
}

class Client extends Writable {
  readonly got: WireConnect[] = [];
  override _write(chunk: Buffer, _e: string, done: () => void): void {
    for (const l of chunk.toString().split('\n').filter(Boolean)) {
      const line = decodeLine(l, 'agent');
      if (line.kind === 'connect') this.got.push(line.connect);
    }
    done();
  }
}

describe('Delivered', () => {
  it('a reopened stream resumes from the last connect seen and prints nothing twice', () => {
    const stream = new ConnectStream();
    const t = Date.now() - 5000;
    const started = new Date(t - 1000);
    const seen = new Delivered();
    const printed: number[] = [];
    const first = new Client();
    const end = stream.subscribe({ when: 'answer', since: started }, first);
    stream.publish(connect(1, new Date(t)), 'answer');
    stream.publish(connect(2, new Date(t + 10)), 'answer');
    for (const c of first.got) if (seen.first(c)) printed.push(c.event.sport);
    end(); // the connection breaks
    stream.publish(connect(3, new Date(t + 10)), 'answer'); // same millisecond as the last seen
    stream.publish(connect(4, new Date(t + 20)), 'answer');
    expect(seen.lastTime).toEqual(new Date(t + 10));
    const second = new Client();
    stream.subscribe({ when: 'answer', since: seen.lastTime }, second);
    for (const c of second.got) if (seen.first(c)) printed.push(c.event.sport);
    expect(second.got.map((c) => c.event.sport)).toEqual([2, 3, 4]);
    expect(printed).toEqual([1, 2, 3, 4]);
  });

  it('keeps a bounded memory of keys', () => {
    const seen = new Delivered(2);
    const w = (sport: number): WireConnect => JSON.parse(JSON.stringify({ when: 'answer', time: new Date(0).toISOString(), event: { tsNs: '1', pid: 1, sport, daddr: 'x', dport: 1 } })) as WireConnect;
    expect([1, 2, 3].map((s) => seen.first(w(s)))).toEqual([true, true, true]);
    expect(seen.first(w(3))).toBe(false);
    expect(seen.first(w(1))).toBe(true); // forgotten: the oldest went first
  });
});
