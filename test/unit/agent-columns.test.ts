/** The trace output views against the seed's `ig trace tcpconnect` lines, byte for byte. */
import { describe, expect, it } from 'vitest';
import type { ConnectEvent } from '../../src/agent/event.js';
import { TCPCONNECT_COLUMNS, type TraceRow, customLayout, defaultLayout, formatDuration, needsAnswer } from '../../src/cli/output/trace-columns.js';
import { compileJson, toJson } from '../../src/cli/output/columns/json.js';
import { TableFormatter } from '../../src/cli/output/columns/table.js';
import { parseOutput } from '../../src/cli/commands/trace/local.js';

function row(container: string, pid: number, comm: string, src: string, sport: number, dst: string, dport: number, latencyNs: number, outcome: ConnectEvent['outcome'] = 'established', errno = 0): TraceRow {
  return {
    event: { tsNs: 1n, latencyNs, cgroupId: 158n, pid, tid: pid, uid: 0, gid: 0, mntns: 1, netns: 2, family: 4, saddr: src, daddr: dst, sport, dport, outcome, source: 'state', proto: 'TCP', errno, comm },
    container: { id: 'f'.repeat(64), name: container, image: 'busybox', labels: {}, runtime: 'docker', ips: [src] },
    time: new Date('2026-11-25T10:00:00.123Z'),
  };
}

const SEED_COLUMNS = 'columns=runtime.containername,pid,comm,ip,src,dst';

describe('trace tcpconnect columns', () => {
  it('reproduces the seed table without --latency', () => {
    const view = parseOutput(SEED_COLUMNS, false);
    if (view.kind !== 'table') throw new Error('expected a table');
    const t = new TableFormatter(view.layout, TCPCONNECT_COLUMNS);
    expect(t.header()).toBe('RUNTIME.CONTAINERNAME                      PID        COMM             IP SRC                                        DST');
    expect(t.row(row('test-tcp-connect', 2021739, 'wget', '172.17.0.2', 4784, '1.1.1.1', 80, 0))).toBe(
      'test-tcp-connect                           2021739    wget             4  172.17.0.2:4784                            1.1.1.1:80',
    );
    expect(t.row(row('test-tcp-connect', 2021739, 'wget', '172.17.0.2', 14023, '1.1.1.1', 443, 0))).toBe(
      'test-tcp-connect                           2021739    wget             4  172.17.0.2:14023                           1.1.1.1:443',
    );
  });

  it('reproduces the seed table with --latency, and appends OUTCOME by default', () => {
    const t = new TableFormatter(defaultLayout(true), TCPCONNECT_COLUMNS);
    const seedHeader = 'RUNTIME.CONTAINERNAME         PID        COMM             IP SRC                          DST                                  LATENCY';
    expect(t.header()).toBe(`${seedHeader} OUTCOME`);
    const seed = [
      [row('netem', 2036550, 'wget', '172.17.0.2', 47250, '1.1.1.1', 80, 14_149_828), 'netem                         2036550    wget             4  172.17.0.2:47250             1.1.1.1:80                       14.149828ms'],
      [row('netem', 2036550, 'wget', '172.17.0.2', 44734, '1.1.1.1', 443, 15_025_666), 'netem                         2036550    wget             4  172.17.0.2:44734             1.1.1.1:443                      15.025666ms'],
      [row('netem', 2037935, 'wget', '172.17.0.2', 38587, '1.1.1.1', 80, 1_006_814_808), 'netem                         2037935    wget             4  172.17.0.2:38587             1.1.1.1:80                      1.006814808s'],
    ] as const;
    for (const [r, line] of seed) expect(t.row(r)).toBe(`${line} established`);
    expect(t.row(row('c', 1, 'nc', '10.0.0.1', 1, '198.51.100.1', 81, 1_000_000_000, 'error', 113))).toMatch(/ 1s error:EHOSTUNREACH$/);
  });

  it('default table without --latency: exactly the seed columns (a connect is shown as it is made, before any outcome)', () => {
    const layout = defaultLayout(false);
    const t = new TableFormatter(layout, TCPCONNECT_COLUMNS);
    expect(t.header()).toBe('RUNTIME.CONTAINERNAME                      PID        COMM             IP SRC                                        DST');
    expect(t.row(row('', 7, 'curl', '10.0.0.1', 5, '10.0.0.2', 80, 0, 'connecting'))).toMatch(/^ {43}7 {10}curl {13}4  10\.0\.0\.1:5 +10\.0\.0\.2:80$/);
    expect(needsAnswer(layout)).toBe(false);
    // A layout that shows the answer waits for it.
    expect(needsAnswer(defaultLayout(true))).toBe(true);
    expect(needsAnswer(customLayout('pid,dst,outcome'))).toBe(true);
    expect(needsAnswer(customLayout('pid,dst'))).toBe(false);
    // A connect reported as made has no latency yet: blank, and null in JSON.
    const made = row('', 7, 'curl', '10.0.0.1', 5, '10.0.0.2', 80, 0, 'connecting');
    expect(new TableFormatter(customLayout('pid,latency'), TCPCONNECT_COLUMNS).row(made)).toBe('7');
    expect(compileJson(TCPCONNECT_COLUMNS)(made)).toMatchObject({ latency: null, outcome: 'connecting' });
  });

  it('formats latency like Go time.Duration', () => {
    expect(formatDuration(47_069)).toBe('47.069µs');
    expect(formatDuration(120_017)).toBe('120.017µs');
    expect(formatDuration(14_149_828)).toBe('14.149828ms');
    expect(formatDuration(1_006_814_808)).toBe('1.006814808s');
    expect(formatDuration(999)).toBe('999ns');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(2_000_000)).toBe('2ms');
    expect(formatDuration(62_500_000_000)).toBe('1m2.5s');
    expect(formatDuration(3_723_000_000_000)).toBe('1h2m3s');
  });

  it('JSON is a view of the same columns', () => {
    const j = toJson(row('web', 42, 'nc', '172.17.0.2', 4784, '198.51.100.1', 80, 47_069, 'refused', 111), TCPCONNECT_COLUMNS);
    expect(j).toEqual({
      timestamp: '2026-11-25T10:00:00.123Z',
      runtime: { containerName: 'web', containerId: 'f'.repeat(64), containerImageName: 'busybox', runtimeName: 'docker' },
      cgroupId: 158,
      mountnsid: 1,
      netnsid: 2,
      pid: 42,
      tid: 42,
      uid: 0,
      gid: 0,
      comm: 'nc',
      ipversion: 4,
      src: { addr: '172.17.0.2', port: 4784 },
      dst: { addr: '198.51.100.1', port: 80 },
      latency: 47_069,
      outcome: 'refused',
      error: { errno: 111, name: 'ECONNREFUSED' },
    });
    expect(toJson({ ...row('x', 1, 'nc', '10.0.0.1', 1, '10.0.0.2', 2, 3), container: null }, TCPCONNECT_COLUMNS)).toMatchObject({ runtime: { containerName: null } });
  });

  it('-o columns= takes names case-insensitively and rejects unknown ones', () => {
    expect(customLayout('PID,Comm,outcome').columns).toEqual(['PID', 'COMM', 'OUTCOME']);
    expect(() => customLayout('pid,nope')).toThrow(/unknown column "nope"; available: timestamp, runtime.containername/);
    expect(() => parseOutput('yaml', false)).toThrow(/unknown output "yaml"/);
    expect(parseOutput('json', false)).toEqual({ kind: 'json' });
  });
});
