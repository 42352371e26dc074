import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { LearnScreen, type LearnScreenProps } from '../../src/cli/views/learn-screen-view.js';
import type { LearnRow } from '../../src/cli/views/learn-model.js';

const NOW = Date.parse('2026-11-25T10:00:10Z');
const row = (over: Partial<LearnRow>): LearnRow => ({
  workload: 'default/mypod',
  kind: 'Pod',
  peer: 'r/1.1.1.1:80',
  proto: 'TCP',
  ports: '80/TCP',
  count: 1,
  lastSeen: NOW - 2000,
  ...over,
});

const base: LearnScreenProps = {
  mode: 'local',
  selector: 'container mypod',
  elapsedMs: 83_000,
  events: 1234,
  eventsPerSecond: 12.34,
  lost: 0,
  flows: 5,
  rows: [
    row({}),
    row({ peer: 'r/1.1.1.1:443', ports: '443/TCP', count: 2, lastSeen: NOW }),
    row({ workload: 'shop/web', kind: 'Deployment', peer: 's/shop/api:80', ports: '8080/TCP', count: 3, lastSeen: NOW - 65_000 }),
  ],
  now: NOW,
  paused: false,
  filter: '',
  editingFilter: false,
};

describe('LearnScreen', () => {
  it('shows mode, selector, elapsed, events/s, lost and one row per workload and peer', () => {
    const { lastFrame } = render(<LearnScreen {...base} />);
    const lines = lastFrame()!.split('\n');
    expect(lines[0]).toBe('netpol learn · local · container mypod   elapsed 00:01:23');
    expect(lines[1]).toBe('events 1,234 (12.3/s)   flows 5   lost 0');
    expect(lines[3]).toMatch(/^WORKLOAD +KIND +PEER +PORTS +COUNT LAST SEEN$/);
    expect(lines[4]).toMatch(/^default\/mypod +Pod +r\/1\.1\.1\.1:80 +80\/TCP +1 2s ago$/);
    // The second peer of the same workload leaves the workload cells blank.
    expect(lines[5]).toMatch(/^ {36}r\/1\.1\.1\.1:443 +443\/TCP +2 now$/);
    expect(lines[6]).toMatch(/^shop\/web +Deployment +s\/shop\/api:80 +8080\/TCP +3 1m ago$/);
    expect(lastFrame()).toContain('q finish and write · p pause · / filter · y show policy YAML');
  });

  it('shows lost events, pause and the filter being typed', () => {
    const { lastFrame } = render(<LearnScreen {...base} lost={17} paused={true} filter="web" editingFilter={true} rows={[base.rows[2]!]} />);
    const frame = lastFrame()!;
    expect(frame).toContain('lost 17');
    expect(frame).toContain('PAUSED (display frozen; still learning)');
    expect(frame).toContain('filter: web');
    expect(frame).toContain('(Enter to keep, Esc to clear)');
    expect(frame).not.toContain('default/mypod');
  });

  it('says when nothing matches or nothing arrived yet, and caps rows', () => {
    expect(render(<LearnScreen {...base} rows={[]} />).lastFrame()).toContain('waiting for connections…');
    expect(render(<LearnScreen {...base} rows={[]} filter="zzz" />).lastFrame()).toContain('no rows match "zzz"');
    const many = Array.from({ length: 30 }, (_, i) => row({ peer: `r/203.0.113.${i}:443` }));
    const frame = render(<LearnScreen {...base} rows={many} maxRows={10} />).lastFrame()!;
    expect(frame).toContain('… 20 more rows (/ to filter)');
  });

  it('shows the policies that would be written and how they differ from --out', () => {
    const { lastFrame } = render(
      <LearnScreen
        {...base}
        out="policies"
        preview={{
          policies: [
            { policy: 'default/mypod', status: 'changed', details: ['egress: + allows ipBlock 1.1.1.1/32 443/TCP'] },
            { policy: 'shop/web', status: 'new', details: [] },
            { policy: 'payments/ledger', status: 'unchanged', details: [] },
            { policy: 'old/gone', status: 'only-in-out', details: [] },
          ],
        }}
      />,
    );
    const frame = lastFrame()!;
    expect(frame).toContain('POLICIES → policies: 1 new, 1 changed, 1 unchanged');
    expect(frame).toMatch(/~ default\/mypod +changed\n +egress: \+ allows ipBlock 1\.1\.1\.1\/32 443\/TCP/);
    expect(frame).toMatch(/\+ shop\/web +new/);
    expect(frame).toMatch(/= payments\/ledger +unchanged/);
    expect(frame).toMatch(/- old\/gone +only in --out \(not observed yet\)/);
  });

  it('without --out says the policies are printed on exit', () => {
    const frame = render(<LearnScreen {...base} preview={{ policies: [{ policy: 'default/mypod', status: 'new', details: [] }] }} />).lastFrame()!;
    expect(frame).toContain('POLICIES (printed on exit; --out DIR to write files): 1 would be written');
  });
});
