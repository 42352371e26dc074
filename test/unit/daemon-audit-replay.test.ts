// GET /v1/audit?since= (src/daemon/audit-replay.ts, audit-stream.ts) and `netpol audit`'s resume
// (src/cli/commands/audit/index.ts): the judge keeps its recent records, bounded by count and age
// and says in-band how far back a replay is complete; a resuming subscriber gets the kept records
// then live ones — none twice, none missed, even when records arrive while the replay is still
// being written to a slow socket; the client resumes from the last record it got and shows each
// record once across the break.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlowSocket } from '../support/slow-socket.js';
import { runAudit, type AuditAgent } from '../../src/cli/commands/audit/index.js';
import { decodeAuditLine } from '../../src/cli/commands/audit/lines.js';
import { AuditLog, type Kept } from '../../src/daemon/audit-replay.js';
import { parseAuditQuery, streamAudit, type AuditSource } from '../../src/daemon/audit-stream.js';
import type { AuditRecord } from '../../src/daemon/judge-sink.js';
import { QueryError } from '../../src/daemon/protocol.js';

const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);

const rec = (i: number, judgedMs = T0 + i * 1000): AuditRecord => ({
  v: 1,
  ts: new Date(judgedMs - 500).toISOString(),
  judged: new Date(judgedMs).toISOString(),
  node: 'n1',
  verdict: i % 2 === 0 ? 'would-deny' : 'dropped',
  staged: i % 2 === 0,
  policy: 'shop/web',
  policies: ['shop/web'],
  gate: 'egress',
  src: `p/shop/web:${40000 + i}`,
  namespace: 'shop',
  labels: { app: 'web' },
  workload: 'shop/Deployment/web',
  dst: 'r/203.0.113.20:80',
  proto: 'TCP',
  reason: 'egress from shop/web isolated by shop/web: no rule allows 203.0.113.20:80/TCP',
});

type KeptRec = Kept<AuditRecord> & { r: AuditRecord };
const logOf = (records: number, ageMs: number, now: () => number, build: (k: KeptRec) => AuditRecord = (k) => k.r) => new AuditLog<KeptRec, AuditRecord>(build, records, ageMs, now);

/** The judge's side as JudgeSink has it: a log of kept records and live subscribers, fed by one synchronous call. */
class Judge implements AuditSource {
  readonly log: AuditLog<KeptRec, AuditRecord>;
  private readonly subs = new Set<(r: AuditRecord) => void>();
  /** `started`: when the judge started (its log is complete from then); `now`: the clock after. */
  constructor(now: () => number, records = 100, ageMs = 300_000, started?: number) {
    let first = true;
    this.log = logOf(records, ageMs, () => (first && started !== undefined ? ((first = false), started) : now()));
  }
  judge(r: AuditRecord): void {
    const kept: KeptRec = { at: Date.parse(r.judged!), r };
    this.log.push(kept);
    for (const s of this.subs) s(this.log.read(kept));
  }
  subscribe(cb: (r: AuditRecord) => void): () => void {
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }
  replay(since: Date) {
    return this.log.since(since);
  }
}


const srcs = (lines: string[]): string[] =>
  lines.map(decodeAuditLine).map((d) => (d.kind === 'record' ? d.record.src.slice(-2) : d.kind === 'lost' ? `lost ${d.lost}` : d.kind === 'replay' ? `replay ${d.replay.records}` : d.problem));

/** What a resumed stream (`since`) serves from `judge`: its lines, written through a slow socket. */
async function servedSince(judge: AuditSource, since: Date): Promise<AsyncIterable<string>> {
  const out = new SlowSocket();
  const s = streamAudit(judge, out, 10, { since });
  for (let i = 0; i < 20 && s.figures().backlog > 0; i++) {
    out.release();
    await new Promise((r) => setImmediate(r));
  }
  s.stop();
  return (async function* () {
    yield* out.lines;
  })();
}

describe('the judge\'s kept audit records', () => {
  it('keeps at most N records and none older than the age bound, and says from when a replay is complete', () => {
    let now = T0;
    const log = logOf(3, 60_000, () => now);
    for (let i = 1; i <= 5; i++) log.push({ at: T0 + i * 1000, r: rec(i) });
    // Records 1 and 2 were pushed out: complete only from just after record 2.
    expect(log.length).toBe(3);
    let r = log.since(new Date(T0));
    expect(r.records.map((x) => x.src)).toEqual(['p/shop/web:40003', 'p/shop/web:40004', 'p/shop/web:40005']);
    expect(r).toMatchObject({ from: new Date(T0 + 2001), complete: false, keeps: { records: 3, seconds: 60 } });
    r = log.since(new Date(T0 + 4000));
    expect(r.records.map((x) => x.src)).toEqual(['p/shop/web:40004', 'p/shop/web:40005']);
    expect(r.complete).toBe(true);
    // A minute on, record 3 is too old to replay; the replay is complete only from a minute ago.
    now = T0 + 63_500;
    r = log.since(new Date(T0 + 2500));
    expect(r.records.map((x) => x.src)).toEqual(['p/shop/web:40004', 'p/shop/web:40005']);
    expect(r).toMatchObject({ from: new Date(T0 + 3500), complete: false });
  });

  it('a fresh log is complete from its start only (an agent that restarted does not claim the gap)', () => {
    const log = logOf(10, 60_000, () => T0);
    expect(log.since(new Date(T0 - 1)).complete).toBe(false);
    expect(log.since(new Date(T0))).toMatchObject({ records: [], complete: true });
  });

  it('builds a record only when it is read, once', () => {
    let built = 0;
    const log = logOf(10, 60_000, () => T0 + 10_000, (k) => (built++, k.r));
    const kept: KeptRec = { at: T0 + 1000, r: rec(1) };
    log.push(kept);
    expect(built).toBe(0);
    expect(log.read(kept)).toBe(log.since(new Date(T0)).records[0]);
    expect(built).toBe(1);
  });
});

describe('GET /v1/audit?since=', () => {
  it('replays the kept records from since, then live ones: none lost or doubled while the replay is still being written', async () => {
    const judge = new Judge(() => T0 + 60_000, 100, 300_000, T0);
    for (let i = 1; i <= 6; i++) judge.judge(rec(i));
    const out = new SlowSocket();
    // A live queue of 2 lines: the replay (5 lines) must not count against it.
    const stream = streamAudit(judge, out, 2, { since: new Date(T0 + 3000) });
    // The socket took the head; the replay waits in the queue. Records judged now come after it.
    judge.judge(rec(7));
    out.release();
    await new Promise((r) => setImmediate(r));
    judge.judge(rec(8));
    for (let i = 0; i < 20 && (stream.figures().backlog > 0 || out.writableNeedDrain); i++) {
      out.release();
      await new Promise((r) => setImmediate(r));
    }
    judge.judge(rec(9));
    out.release();
    await new Promise((r) => setImmediate(r));
    expect(srcs(out.lines)).toEqual(['replay 4', '03', '04', '05', '06', '07', '08', '09']);
    expect(JSON.parse(out.lines[0]!)).toEqual({
      replay: { since: new Date(T0 + 3000).toISOString(), from: new Date(T0).toISOString(), records: 4, complete: true, keeps: { records: 100, seconds: 300 } },
    });
    expect(stream.figures()).toEqual({ sent: 7, lost: 0, backlog: 0, replayed: 4 });
    stream.stop();
  });

  it('a since older than what is kept is said in-band (complete: false, from), never silently', () => {
    const judge = new Judge(() => T0 + 60_000, 2, 300_000, T0);
    for (let i = 1; i <= 4; i++) judge.judge(rec(i));
    const out = new SlowSocket();
    streamAudit(judge, out, 10, { since: new Date(T0) }).stop();
    expect(JSON.parse(out.lines[0]!)).toMatchObject({ replay: { from: new Date(T0 + 2001).toISOString(), records: 2, complete: false } });
  });

  it('refuses a bad since= or an unknown parameter with a clear message', () => {
    const bad = (q: string): string => {
      try {
        parseAuditQuery(new URLSearchParams(q));
      } catch (err) {
        expect(err).toBeInstanceOf(QueryError);
        return (err as Error).message;
      }
      throw new Error(`accepted ${q}`);
    };
    expect(bad('since=yesterday')).toBe('since: "yesterday" is not an RFC 3339 time such as 2026-12-07T00:19:49.123Z');
    expect(bad('since=2026-12-07')).toMatch(/not an RFC 3339 time/);
    expect(bad('since=2026-12-07T01:00:00+01:00')).toMatch(/a \+ in a query must be sent as %2B/);
    expect(bad('since=')).toBe('since: empty');
    expect(bad('sinse=2026-12-07T00:00:00Z')).toBe('sinse: unknown parameter; known: since');
    expect(parseAuditQuery(new URLSearchParams('since=2026-12-07T01:00:00%2B01:00')).since).toEqual(new Date('2026-12-07T00:00:00Z'));
    expect(parseAuditQuery(new URLSearchParams(''))).toEqual({});
  });
});

describe('netpol audit resuming a broken stream', () => {
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'audit-resume-')), 'kubeconfig');
  writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u, namespace: shop}}]\ncurrent-context: c\n',
  );

  it('asks since= the last record it got, shows each record once (same-millisecond records at the boundary), and says it replayed N', async () => {
    const judge = new Judge(() => T0 + 60_000, 100, 300_000, T0);
    const same = T0 + 5000;
    const asked: Array<Date | undefined> = [];
    // The stream breaks after record 5a; 5b (same millisecond), 6 and 7 were judged in the gap.
    const before = [rec(1), rec(2), rec(3), rec(4), { ...rec(5, same), src: 'p/shop/web:405a' }];
    const gap = [{ ...rec(5, same), src: 'p/shop/web:405b' }, rec(6), rec(7)];
    for (const r of [...before, ...gap]) judge.judge(r);
    const agent: AuditAgent = {
      node: 'n1',
      open: async (since) => {
        asked.push(since);
        if (asked.length === 1) {
          return (async function* () {
            for (const r of before) yield JSON.stringify(r);
            throw new Error('aborted');
          })();
        }
        return await servedSince(judge, since!);
      },
      close: async () => {},
    };
    let out = '';
    let err = '';
    const code = await runAudit(
      { output: 'json', kubeconfig },
      {
        stdout: { write: (s: string) => ((out += s), true) } as NodeJS.WritableStream,
        stderr: { write: (s: string) => ((err += s), true) } as NodeJS.WritableStream,
        dial: async function* () {
          yield agent;
        },
      },
    );
    expect(code).toBe(0);
    expect(asked).toEqual([undefined, new Date(same)]);
    expect(out.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).src.slice(-2))).toEqual(['01', '02', '03', '04', '5a', '5b', '06', '07']);
    expect(err).toBe(
      'streaming verdicts from the agent on node n1\n' +
        'warning: agent on n1: aborted; reconnecting\n' +
        `reconnected to the agent on node n1: replayed 3 record(s) judged since ${new Date(same).toISOString()}\n`,
    );
  });

  it('announces a node whose first open failed once its stream opens on a later round, from the start (no since=)', async () => {
    const judge = new Judge(() => T0 + 60_000, 100, 300_000, T0);
    judge.judge(rec(1));
    const asked: Array<Date | undefined> = [];
    const agentOf = (fails: boolean): AuditAgent => ({
      node: 'n1',
      open: async (since) => {
        asked.push(since);
        if (fails) throw new Error('port-forward: connection refused');
        return (async function* () {
          yield* [];
        })();
      },
      close: async () => {},
    });
    let err = '';
    const code = await runAudit(
      { output: 'json', kubeconfig },
      {
        stdout: { write: () => true } as unknown as NodeJS.WritableStream,
        stderr: { write: (s: string) => ((err += s), true) } as NodeJS.WritableStream,
        dial: async function* () {
          // Round 1: the agent's stream cannot be opened; round 2 (the dialer's next look): it can.
          yield agentOf(true);
          await new Promise((r) => setTimeout(r, 20));
          yield agentOf(false);
        },
      },
    );
    expect(code).toBe(0);
    // Before the fix the node counted as streamed after the failed open: the second round resumed
    // with since= and never said the node was being streamed.
    expect(asked).toEqual([undefined, undefined]);
    expect(err).toBe('warning: port-forward: connection refused\nstreaming verdicts from the agent on node n1\n');
  });

  it('resumes from its own start when nothing came before the break, and warns when the agent no longer has the gap', async () => {
    const judge = new Judge(() => Date.now(), 1);
    const asked: Array<Date | undefined> = [];
    const t = Date.now();
    let firstOpen = 0;
    const agent: AuditAgent = {
      node: 'n1',
      open: async (since) => {
        asked.push(since);
        if (asked.length === 1) {
          firstOpen = Date.now();
          // Two records judged while the stream is broken; the agent keeps only one.
          judge.judge(rec(1, Date.now()));
          judge.judge(rec(2, Date.now()));
          return (async function* () {
            yield* [];
            throw new Error('aborted');
          })();
        }
        return await servedSince(judge, since!);
      },
      close: async () => {},
    };
    let err = '';
    let out = '';
    await runAudit(
      { output: 'json', kubeconfig },
      {
        stdout: { write: (s: string) => ((out += s), true) } as NodeJS.WritableStream,
        stderr: { write: (s: string) => ((err += s), true) } as NodeJS.WritableStream,
        dial: async function* () {
          yield agent;
        },
      },
    );
    // Its own start: after the test began, before it first opened the stream.
    expect(asked[1]!.getTime()).toBeGreaterThanOrEqual(t);
    expect(asked[1]!.getTime()).toBeLessThanOrEqual(firstOpen);
    expect(out.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).src)).toEqual(['p/shop/web:40002']);
    expect(err).toMatch(/warning: agent on n1: records judged between \S+ and \S+ may be missing \(it keeps its last 1 audit records, for 300 s\)\n/);
    expect(err).toMatch(/replayed 1 record\(s\)/);
  });
});
