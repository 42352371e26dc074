// The node agent's on-demand sockops hook (src/daemon/as-made.ts): attached while a consumer of
// connects as made is there, detached after a linger once the last one left; which answers are
// published as made too (their connect was not reported as made); and the stream asking for it per
// when=connect client. The kernel side (real attach and detach) is in test/e2e/k8s-agent-as-made.
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConnectEvent } from '../../src/agent/event.js';
import { AsMadeSwitch, type AsMadeHook } from '../../src/daemon/as-made.js';
import { ConnectStream } from '../../src/daemon/connect-stream.js';

class FakeHook implements AsMadeHook {
  attached = false;
  reportingSinceNs: bigint | undefined;
  calls: boolean[] = [];
  constructor(
    private clock: { ns: bigint },
    attached = false,
  ) {
    this.attached = attached;
    if (attached) this.reportingSinceNs = 0n;
  }
  setReportConnects(on: boolean): { reported: boolean } {
    this.calls.push(on);
    this.attached = on;
    this.reportingSinceNs = on ? this.clock.ns : undefined;
    return { reported: on };
  }
}

function ev(tsNs: bigint, sport: number, proto: 'TCP' | 'UDP' = 'TCP'): ConnectEvent {
  return { tsNs, sport, proto, outcome: proto === 'UDP' ? 'sent' : 'established' } as ConnectEvent;
}

const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });

describe('AsMadeSwitch', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('attaches on the first consumer, keeps it through the linger, detaches after it', () => {
    const clock = { ns: 1000n };
    const hook = new FakeHook(clock);
    const sw = new AsMadeSwitch({ lingerMs: 3000 });
    sw.attach(hook, () => clock.ns);
    expect(hook.attached).toBe(false);
    expect(sw.reporting.reported).toBe(false);
    const a = sw.want();
    const b = sw.want();
    expect(hook.attached).toBe(true);
    expect(sw.consumers).toBe(2);
    a();
    a(); // released once only
    expect(sw.consumers).toBe(1);
    b();
    vi.advanceTimersByTime(2900);
    expect(hook.attached).toBe(true);
    // A client back within the linger: no flap.
    const c = sw.want();
    vi.advanceTimersByTime(10_000);
    expect(hook.attached).toBe(true);
    c();
    vi.advanceTimersByTime(3001);
    expect(hook.attached).toBe(false);
    expect(sw.reporting.reported).toBe(false);
    expect(hook.calls.filter((x) => x)).toHaveLength(1);
    expect(sw.attaches).toBe(1);
    expect(sw.detaches).toBe(1);
  });

  it('applies a demand that came before the tracer ran; detaches a reopened hook nobody wants after the linger', () => {
    const clock = { ns: 1000n };
    const early = new AsMadeSwitch({ lingerMs: 3000 });
    early.want();
    const hook = new FakeHook(clock);
    early.attach(hook, () => clock.ns);
    expect(hook.attached).toBe(true);

    const reopened = new FakeHook(clock, true);
    const sw = new AsMadeSwitch({ lingerMs: 3000 });
    sw.attach(reopened, () => clock.ns);
    expect(sw.reporting.reported).toBe(true);
    vi.advanceTimersByTime(3001);
    expect(reopened.attached).toBe(false);
  });

  it('publishes as made exactly the answers whose connect was not reported as made', () => {
    const clock = { ns: 1000n };
    const hook = new FakeHook(clock);
    const sw = new AsMadeSwitch({ lingerMs: 10 });
    sw.attach(hook, () => clock.ns);
    // Detached: every answer.
    expect(sw.notReportedAsMade(ev(500n, 1))).toBe(true);
    const release = sw.want(); // attached at 1000
    // SYN before the attach: answer only...
    expect(sw.notReportedAsMade(ev(900n, 2))).toBe(true);
    // ...unless its as-made event came (the hook got attached between SYN_SENT and its own call).
    sw.sawMade({ ...ev(950n, 3), outcome: 'connecting' });
    expect(sw.notReportedAsMade(ev(950n, 3))).toBe(false);
    // SYN after the attach: reported as made.
    expect(sw.notReportedAsMade(ev(1000n, 4))).toBe(false);
    expect(sw.notReportedAsMade(ev(1500n, 5))).toBe(false);
    // A UDP send is never reported twice.
    expect(sw.notReportedAsMade(ev(1500n, 6, 'UDP'))).toBe(true);
    const S = 1_000_000_000n;
    clock.ns = 5n * S;
    release();
    vi.advanceTimersByTime(11);
    expect(hook.attached).toBe(false);
    // Answers of connects made while it was attached: already reported; after: not. The detach
    // counts from a second before it (the hook runs a little after SYN_SENT): a connect in that
    // second is published as made again, a duplicate at worst, never a miss.
    expect(sw.notReportedAsMade(ev(4n * S - 1n, 7))).toBe(false);
    expect(sw.notReportedAsMade(ev(4n * S, 8))).toBe(true);
    expect(sw.notReportedAsMade(ev(5n * S, 9))).toBe(true);
  });

  it('remembers earlier attached periods: a connect made in one and answered after a re-attach is not published as made twice', () => {
    const S = 1_000_000_000n;
    const clock = { ns: 10n * S };
    const hook = new FakeHook(clock);
    const sw = new AsMadeSwitch({ lingerMs: 10 });
    sw.attach(hook, () => clock.ns);
    let release = sw.want(); // attached at 10 s
    clock.ns = 20n * S;
    release();
    vi.advanceTimersByTime(11); // detached at 20 s (counted from 19 s)
    clock.ns = 30n * S;
    release = sw.want(); // attached again at 30 s
    // Made (and reported as made) at 12 s, answered now (a SYN timeout): not again.
    expect(sw.notReportedAsMade(ev(12n * S, 1))).toBe(false);
    // Made while detached (25 s), or in the detach's margin (19.5 s): published as made now.
    expect(sw.notReportedAsMade(ev(25n * S, 2))).toBe(true);
    expect(sw.notReportedAsMade(ev(19n * S + S / 2n, 3))).toBe(true);
    // Made before the first attach: never reported as made.
    expect(sw.notReportedAsMade(ev(5n * S, 4))).toBe(true);
    // Made in the current period: reported.
    expect(sw.notReportedAsMade(ev(31n * S, 5))).toBe(false);
    release();
  });
});

describe('ConnectStream asks for connects as made per when=connect TCP client', () => {
  it('wants them while such a client streams, not for when=answer or UDP-only clients', () => {
    let wanted = 0;
    const stream = new ConnectStream({
      wantAsMade: () => {
        wanted++;
        let done = false;
        return () => {
          if (!done) wanted--;
          done = true;
        };
      },
    });
    const endAnswer = stream.subscribe({ when: 'answer' }, sink());
    const endUdp = stream.subscribe({ proto: 'UDP' }, sink());
    expect(wanted).toBe(0);
    const endMade = stream.subscribe({}, sink());
    const endMade2 = stream.subscribe({ when: 'connect', proto: 'all' }, sink());
    expect(wanted).toBe(2);
    endMade();
    endMade();
    expect(wanted).toBe(1);
    endAnswer();
    endUdp();
    stream.endAll();
    expect(wanted).toBe(0);
    endMade2();
    expect(wanted).toBe(0);
  });
});
