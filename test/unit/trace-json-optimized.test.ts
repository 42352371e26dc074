// TraceJsonLines.writeRecord is the per-connect path of `trace -o json` in a connect storm: it must
// run optimized. It once ran unoptimized for much of a storm: RecordKey's 32-bit words started as
// small integers; the first word given a value that is not one (a namespace inode, over 2^31)
// changed the key's hidden class and deprecated the old one, which the other key, never set, kept.
// Compiles of writeRecord were aborted ("Maps became deprecated during optimization", --trace-opt:
// 35-52 in 6 s of `trace` in a storm) and its code deoptimized, again and again.
// This runs the built module (dist/, what `netpol` runs) in a child node with V8's natives syntax.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIST = join(__dirname, '../../dist');

// One storm's records (new ports and times), from the trace's start: the first record sets one key,
// the other is never set (one source).
const SCRIPT = `
import { encodeEvent } from '${DIST}/agent/event.js';
import { ByteBatch } from '${DIST}/cli/output/byte-batch.js';
import { TraceJsonLines } from '${DIST}/cli/output/trace-json.js';
const base = { tsNs: 1n, latencyNs: 0, cgroupId: 1n, pid: 4242, tid: 4243, uid: 0, gid: 0, mntns: 4026531841, netns: 4026531840,
  family: 4, saddr: '127.0.0.1', daddr: '127.0.0.1', sport: 40000, dport: 8080, outcome: 'connecting', source: 'connect', proto: 'TCP', errno: 0, comm: 'connect-storm' };
const view = (b) => new DataView(b.buffer, b.byteOffset, b.length);
const lines = new TraceJsonLines();
const out = new ByteBatch();
const drain = () => { const bytes = out.take(); if (bytes) out.release(bytes); };
const records = [];
for (let i = 0; i < 64; i++) records.push(encodeEvent({ ...base, sport: 40000 + i, tsNs: BigInt(i) * 40000n }));
const views = records.map(view);
const started = Date.now();
// Long enough to tier up several times over (a storm's seconds), with nothing else to do.
for (let n = 0; Date.now() - started < 1500; n++) {
  for (let i = 0; i < 64; i++) lines.writeRecord(views[i], records[i], 0, null, 1765000000000 + (n & 7), out);
  drain();
}
console.log('SAME_MAP ' + %HaveSameMap(lines.current, lines.other));
console.log('STATUS ' + %GetOptimizationStatus(Object.getPrototypeOf(lines).writeRecord));
`;

describe('trace -o json: writeRecord is optimized in a storm (V8, the built module)', () => {
  it('no key is left with an old hidden class, and writeRecord ends up optimized by TurboFan', () => {
    if (!existsSync(join(DIST, 'cli/output/trace-json.js'))) throw new Error(`${DIST} is not built: run npm run build (scripts/setup.sh does)`);
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--trace-opt', '--input-type=module', '-e', SCRIPT], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const deprecated = r.stdout.split('\n').filter((l) => l.includes('writeRecord') && l.includes('Maps became deprecated'));
    expect(/^SAME_MAP (\w+)$/m.exec(r.stdout)?.[1]).toBe('true');
    expect(deprecated, deprecated.join('\n')).toEqual([]);
    const status = Number(/^STATUS (\d+)$/m.exec(r.stdout)?.[1]);
    // V8's OptimizationStatus bits: 16 optimized, 64 TurboFan.
    expect(status & 16, `status ${status}`).toBe(16);
    expect(status & 64, `status ${status}`).toBe(64);
  });
});
