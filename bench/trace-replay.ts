/**
 * `trace tcpconnect -o json`'s JavaScript path without the kernel: ring-buffer records of a loopback
 * connect storm (encoded as the BPF program writes them) replayed through the decoder, the agent's
 * enrichment (LocalAgent.accept: time, container, row), the JSON line and the batch, written out
 * (to /dev/null) once per drain batch — the way `trace` runs them, in this one process, so that the CPU per
 * event is measured without the storm's noise. Two writers, alternated pass by pass:
 *
 *   text   the line built as a string (compileJsonText) and encoded per batch (LineBatch): `trace` before
 *   bytes  the line written as bytes into the batch (TraceJsonLines, ByteBatch): `trace` now
 *   record the line written from the ring record's bytes (LocalAgent's record path, TraceJsonLines.writeRecord):
 *          no event decoded, no row: `trace -o json` now
 *   none   the events decoded and enriched, no line (what the writers add to)
 *
 * --sources 2 interleaves the events of two storms (another process in a container), as when two run
 * on one host. Prints CPU µs per event, the first pass (the JIT warming up) apart.
 *   npx vite-node bench/trace-replay.ts [--events 1000000] [--batch 512] [--passes 4] [--sources 1] [--modes none,text,bytes] [--file FILE]
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { LocalAgent, type EnrichedEvent, type RecordConsumer } from '../src/agent/agent.js';
import { BootClock, bootTimeNs } from '../src/agent/clock.js';
import { ContainerResolver, type ContainerInfo } from '../src/agent/containers.js';
import { EVENT_SIZE, decodeEventAt, encodeEvent, type ConnectEvent } from '../src/agent/event.js';
import { ByteBatch } from '../src/cli/output/byte-batch.js';
import { compileJsonText } from '../src/cli/output/columns/json.js';
import { LineBatch } from '../src/cli/output/line-batch.js';
import { TCPCONNECT_COLUMNS } from '../src/cli/output/trace-columns.js';
import { traceJsonLines, traceJsonWriter } from '../src/cli/output/trace-json.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const EVENTS = Number(arg('events', '1000000'));
const BATCH = Number(arg('batch', '512'));
const PASSES = Number(arg('passes', '4'));
const SOURCES = Number(arg('sources', '1'));
const MODES = arg('modes', 'none,text,bytes,record').split(',');

// The records, as the ring holds them: an 8-byte header before each.
const RECORD = EVENT_SIZE + 8;
const RECORDS = 1 << 16;
const ring = Buffer.alloc(RECORDS * RECORD);
// Times from now on the boot clock: the host process's "not a container" answer expires 5 s after the
// connect that found it (ContainerResolver), so records stamped hours after this boot (a fixed time
// on a machine up for minutes) would each miss it, and take the decode path and the container scan.
const bootNs = bootTimeNs();
const storm: ConnectEvent = {
  tsNs: bootNs, latencyNs: 0, cgroupId: 12345n, pid: 4242, tid: 4243, uid: 0, gid: 0, mntns: 4026531841, netns: 4026531840,
  family: 4, saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 40000, dport: 38123, outcome: 'connecting', source: 'connect', proto: 'TCP', errno: 0, comm: 'connect-storm',
};
const other: ConnectEvent = { ...storm, cgroupId: 67890n, pid: 5151, tid: 5152, mntns: 4026532301, netns: 4026532304, saddr: '10.244.0.7', daddr: '10.244.0.7', dport: 8080 };
for (let i = 0; i < RECORDS; i++) {
  const from = SOURCES > 1 && i % 2 === 1 ? other : storm;
  const e = { ...from, tsNs: from.tsNs + BigInt(i) * 40_000n, tid: from.tid + (i & 2 ? 1 : 0), sport: 32768 + (i % 28000) };
  encodeEvent(e).copy(ring, i * RECORD + 8);
}
const view = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
const bytes = new Uint8Array(ring.buffer, ring.byteOffset, ring.byteLength);

// The agent's enrichment as `trace --host` runs it: a host process (no container) and a container.
const resolver = new ContainerResolver();
const container: ContainerInfo = { id: '87b40db8f3fa'.padEnd(64, '0'), name: 'storm', image: 'netpol-bench:latest', labels: {}, runtime: 'containerd', ips: [] };
const cache = (resolver as unknown as { cache: Map<bigint, ContainerInfo | null>; negativeAt: Map<bigint, number> });
cache.cache.set(storm.cgroupId, null);
cache.negativeAt.set(storm.cgroupId, Date.now() + 3_600_000);
cache.cache.set(other.cgroupId, container);
type Accept = (e: ConnectEvent, cursor: number, clock: BootClock, onEvent: (e: EnrichedEvent) => void) => void;
type AcceptRecord = (v: DataView, b: Uint8Array, off: number, clock: BootClock, onRecord: RecordConsumer) => boolean;
const agent = new (LocalAgent as unknown as new (tracer: unknown, resolver: ContainerResolver, opts: object) => { accept: Accept; acceptRecord: AcceptRecord })({ ringId: undefined }, resolver, { host: true });
const clock = new BootClock();

// /dev/null: a file's cost in the kernel is the same for every writer, and varies with the page cache
// as a replay of millions of lines fills it (--file FILE writes one all the same).
const fd = openSync(arg('file', '/dev/null'), 'w');

function pass(mode: string): number {
  const text = compileJsonText(TCPCONNECT_COLUMNS);
  const lines = new LineBatch();
  const line = traceJsonWriter(TCPCONNECT_COLUMNS);
  const out = new ByteBatch();
  const onEvent: (e: EnrichedEvent) => void =
    mode === 'text' ? (row) => lines.add(text(row)) : mode === 'bytes' ? (row) => line(row, out) : () => {};
  const accept = (e: ConnectEvent) => agent.accept(e, -1, clock, onEvent);
  const recordLines = traceJsonLines(TCPCONNECT_COLUMNS)!;
  const onRecord: RecordConsumer = (v, b, off, c, ms) => recordLines.writeRecord(v, b, off, c, ms, out);
  const c0 = process.cpuUsage();
  for (let done = 0; done < EVENTS; done += BATCH) {
    if (mode === 'record') {
      // As the tracer does: the record path first, the decoded event when it declines.
      for (let k = 0; k < BATCH; k++) {
        const off = ((done + k) % RECORDS) * RECORD + 8;
        if (!agent.acceptRecord(view, bytes, off, clock, onRecord)) accept(decodeEventAt(view, bytes, off));
      }
    } else for (let k = 0; k < BATCH; k++) accept(decodeEventAt(view, bytes, ((done + k) % RECORDS) * RECORD + 8));
    const chunk = mode === 'text' ? lines.take() : mode === 'bytes' || mode === 'record' ? out.take() : undefined;
    if (chunk) writeSync(fd, chunk);
  }
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / EVENTS;
}

const per: Record<string, number[]> = {};
for (let p = 0; p < PASSES; p++) for (const m of MODES) (per[m] ??= []).push(pass(m));
closeSync(fd);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${EVENTS} events a pass, batches of ${BATCH}, ${SOURCES} source(s); CPU µs per event`);
console.log('| writer | first pass | median of the others | others |');
console.log('|---|---|---|---|');
for (const m of MODES) {
  const xs = per[m]!;
  console.log(`| ${m} | ${xs[0]!.toFixed(3)} | ${median(xs.slice(1)).toFixed(3)} | ${xs.slice(1).map((x) => x.toFixed(3)).join(', ')} |`);
}
