import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render } from 'ink-testing-library';
import { afterAll, describe, expect, it } from 'vitest';
import { LearnModel, PushLearnSource } from '../../src/cli/views/learn-model.js';
import { LearnApp, runLearnPlain } from '../../src/cli/views/learn-screen.js';
import { LearnSession } from '../../src/cli/views/learn-session.js';
import { createProgress, progressLine } from '../../src/cli/views/progress.js';
import { renderPolicies } from '../../src/policy/render.js';
import { learnFromFlows } from '../../src/policy/learn.js';
import { FLOWS, screensIndex } from './support/screens-fixture.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'netpol-views-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const index = screensIndex();
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
let frame: (() => string | undefined) | undefined;
async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out; last frame:\n${frame?.() ?? ''}`);
    await wait(20);
  }
}

describe('LearnModel', () => {
  it('folds flows into (workload, peer) rows resolved against the cluster', () => {
    const m = new LearnModel({ index: () => index, synthesis: { dns: false } });
    for (const f of FLOWS) m.add(f);
    const rows = m.snapshot();
    expect(rows.map((r) => [r.workload, r.kind, r.peer, r.ports, r.count])).toEqual([
      ['default/mypod', 'Pod', 'r/1.0.0.1:80', '80/TCP', 1],
      ['default/mypod', 'Pod', 'r/1.1.1.1:443', '443/TCP', 1],
      ['default/mypod', 'Pod', 'r/1.1.1.1:80', '80/TCP', 1],
      ['shop/api-0', 'Pod', 'r/203.0.113.10:443', '443/TCP', 1],
      ['shop/api-0', 'Pod', 's/payments/ledger:5432', '15432/TCP', 1],
      ['shop/web', 'Deployment', 's/shop/api:80', '8080/TCP', 3],
    ]);
    expect(m.snapshot('web').map((r) => r.workload)).toEqual(['shop/web']);
    expect(m.snapshot('203.0.113').map((r) => r.peer)).toEqual(['r/203.0.113.10:443']);
  });

  it('without a cluster view uses what the flow records name', () => {
    const m = new LearnModel();
    for (const f of FLOWS) m.add(f);
    expect(m.snapshot('web').map((r) => [r.workload, r.peer, r.count])).toEqual([
      ['shop/web-7c9d8f6b5-abcde', 's/shop/api:80', 2],
      ['shop/web-7c9d8f6b5-fghij', 's/shop/api:80', 1],
    ]);
    expect(m.preview().error).toMatch(/no cluster view/);
  });

  it('previews the policies and compares them with the files in --out', () => {
    const out = tmp();
    const m = new LearnModel({ index: () => index, synthesis: { dns: false }, out });
    for (const f of FLOWS.filter((f) => f.src.pod === 'mypod')) m.add(f);
    let p = m.preview();
    expect(p.policies).toEqual([{ policy: 'default/mypod', status: 'new', details: [] }]);
    // Commit that policy, then learn more: the preview says what changes.
    mkdirSync(join(out, 'default'));
    writeFileSync(join(out, 'default', 'mypod.yaml'), renderPolicies(p.result!.policies.map((g) => g.policy)));
    const m2 = new LearnModel({ index: () => index, synthesis: { dns: false }, out });
    for (const f of FLOWS.filter((f) => f.src.pod === 'mypod')) m2.add(f);
    expect(m2.preview().policies).toEqual([{ policy: 'default/mypod', status: 'unchanged', details: [] }]);
    m2.add({ v: 1, proto: 'TCP', src: { ip: '10.244.0.12', namespace: 'default', pod: 'mypod' }, dst: { ip: '198.51.100.7', port: 22 } });
    const changed = m2.preview().policies[0]!;
    expect(changed.status).toBe('changed');
    expect(changed.details.join('\n')).toContain('198.51.100.7/32');
  });
});

describe('LearnModel agrees with the final write and the kernel (issue 9)', () => {
  const timedOut = { v: 1 as const, proto: 'TCP' as const, src: { ip: '10.244.0.12', namespace: 'default', pod: 'mypod' }, dst: { ip: '198.51.100.9', port: 25 }, outcome: 'timeout' as const };

  it('previews exactly what learn writes: a connect nobody answered gets no rule', async () => {
    const m = new LearnModel({ index: () => index, synthesis: { dns: false } });
    const flows = [...FLOWS.filter((f) => f.src.pod === 'mypod'), timedOut];
    for (const f of flows) m.add(f);
    const preview = renderPolicies(m.preview().result!.policies.map((g) => g.policy));
    const written = renderPolicies((await learnFromFlows(flows, index, { dns: false })).result.policies.map((g) => g.policy));
    expect(preview).not.toContain('198.51.100.9');
    expect(preview).toBe(written);
  });

  it("counts what the kernel counted for an edge delivered once, never less than the flows that arrived", () => {
    const m = new LearnModel({ index: () => index, synthesis: { dns: false } });
    const f = FLOWS.find((x) => x.src.pod === 'mypod')!;
    m.add(f);
    const row = () => m.snapshot().find((r) => r.workload === 'default/mypod' && r.peer.endsWith(`:${f.dst.port}`) && r.peer.includes(f.dst.ip))!;
    expect(row().count).toBe(1);
    m.setConnects(f, 5);
    expect(row().count).toBe(5);
    m.setConnects(f, 7);
    expect(row().count).toBe(7);
    m.add(f); // a record the kernel had already counted
    expect(row().count).toBe(7);
  });

  it('a session applies the counts a source pushes', async () => {
    const src = new PushLearnSource();
    const session = new LearnSession(src, { mode: 'local', index: () => index, synthesis: { dns: false } });
    const f = FLOWS.find((x) => x.src.pod === 'mypod')!;
    src.push(f);
    src.pushConnects(f, 4);
    src.end();
    const result = await session.done;
    expect(result.rows.filter((r) => r.workload === 'default/mypod').map((r) => r.count)).toEqual([4]);
  });
});

describe('LearnApp (ink) driven by a session', () => {
  it('shows rows as flows arrive; p pauses, / filters, q finishes and writes --out', async () => {
    const out = join(tmp(), 'policies');
    const source = new PushLearnSource();
    const session = new LearnSession(source, { mode: 'replay', selector: 'screens fixture', index: () => index, synthesis: { dns: false }, out, previewEveryMs: 0 });
    const app = render(<LearnApp session={session} redrawMs={10} />);
    frame = app.lastFrame;
    try {
      expect(app.lastFrame()).toContain('waiting for connections…');
      for (const f of FLOWS.slice(0, 3)) source.push(f);
      await until(() => (app.lastFrame() ?? '').includes('r/1.0.0.1:80'));
      expect(app.lastFrame()).toContain('netpol learn · replay · screens fixture');
      expect(app.lastFrame()).toContain('flows 3');

      app.stdin.write('p');
      await until(() => (app.lastFrame() ?? '').includes('PAUSED'));
      for (const f of FLOWS.slice(3)) source.push(f);
      await wait(100);
      expect(app.lastFrame()).not.toContain('s/shop/api:80'); // frozen
      app.stdin.write('p');
      await until(() => (app.lastFrame() ?? '').includes('s/shop/api:80'));

      session.tick(); // as the 1 s timer would: refresh the preview
      await until(() => /\+ shop\/web +new/.test(app.lastFrame() ?? ''));
      expect(app.lastFrame()).toMatch(/POLICIES → .*policies: 4 new, 0 changed, 0 unchanged/);

      app.stdin.write('y');
      await until(() => (app.lastFrame() ?? '').includes('kind: NetworkPolicy'));
      expect(app.lastFrame()).toContain('y hide policy YAML');
      app.stdin.write('y');
      await until(() => !(app.lastFrame() ?? '').includes('kind: NetworkPolicy'));

      app.stdin.write('/led'); // typed faster than read: one chunk
      for (const ch of 'ger') app.stdin.write(ch);
      await until(() => (app.lastFrame() ?? '').includes('filter: ledger'));
      expect(app.lastFrame()).not.toContain('r/1.1.1.1:80');
      app.stdin.write('\r');
      await until(() => (app.lastFrame() ?? '').includes('/ filter (now: "ledger")'));

      app.stdin.write('q');
      const result = await session.done;
      expect(result.reason).toBe('quit');
      expect(result.flows).toBe(FLOWS.length);
      expect(result.written?.files.map((f) => f.path)).toEqual(['default/mypod.yaml', 'kustomization.yaml', 'payments/ledger-0.yaml', 'shop/api-0.yaml', 'shop/web.yaml']);
      expect(readFileSync(join(out, 'shop', 'web.yaml'), 'utf8')).toContain('kind: NetworkPolicy');
      await until(() => (app.lastFrame() ?? '').includes('wrote 5 files to'));
    } finally {
      app.unmount();
    }
  });

  it('Ctrl-C finishes too', async () => {
    const source = new PushLearnSource();
    const session = new LearnSession(source, { mode: 'local' });
    const app = render(<LearnApp session={session} redrawMs={10} />);
    try {
      source.push(FLOWS[0]!);
      app.stdin.write('\u0003');
      const result = await session.done;
      expect(result.reason).toBe('quit');
      expect(result.flows).toBe(1);
    } finally {
      app.unmount();
    }
  });
});

describe('runLearnPlain', () => {
  function sink(): { stream: NodeJS.WritableStream; text: () => string } {
    let text = '';
    return { stream: { write: (c: string) => ((text += c), true) } as unknown as NodeJS.WritableStream, text: () => text };
  }

  it('prints each connection once in the screen columns, then a summary; ends with the source', async () => {
    const s = sink();
    const source = new PushLearnSource();
    const done = runLearnPlain(source, { mode: 'pipe', index: () => index, synthesis: { dns: false }, stream: s.stream });
    for (const f of FLOWS) source.push(f);
    source.addLost(2);
    source.end();
    const result = await done;
    const lines = s.text().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^WORKLOAD +KIND +PEER +PORTS +FIRST SEEN$/);
    expect(lines.slice(1, -1)).toHaveLength(6);
    expect(lines[1]).toMatch(/^default\/mypod +Pod +r\/1\.1\.1\.1:80 +80\/TCP +10:00:00$/);
    expect(lines.at(-1)).toBe('# 8 flows, 6 connections, 8 events, 2 lost; 4 policies');
    expect(result.reason).toBe('ended');
    expect(result.lost).toBe(2);
  });

  it('-o json: one object per connection and a summary object; --duration finishes', async () => {
    const s = sink();
    const source = new PushLearnSource();
    for (const f of FLOWS.slice(0, 2)) source.push(f);
    const result = await runLearnPlain(source, { mode: 'pipe', output: 'json', stream: s.stream, durationMs: 150 });
    const objs = s.text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objs.map((o) => o.event)).toEqual(['connection', 'connection', 'summary']);
    expect(objs[0]).toEqual({ event: 'connection', workload: 'default/mypod', kind: 'Pod', peer: 'r/1.1.1.1:80', ports: '80/TCP', firstSeen: '2026-11-24T10:00:00.123Z' });
    expect(objs[2]).toMatchObject({ event: 'summary', reason: 'duration', flows: 2, lost: 0, connections: 2 });
    expect(result.reason).toBe('duration');
  });
});

describe('progress', () => {
  it('draws bytes, percent and flows/s on a TTY, nothing on a pipe', () => {
    let text = '';
    const tty = { isTTY: true, columns: 100, write: (c: string) => ((text += c), true) } as unknown as NodeJS.WriteStream;
    let t = 0;
    const p = createProgress(2_000_000, { stream: tty, now: () => t, intervalMs: 0 });
    t = 1000;
    p.update({ bytes: 1_000_000, flows: 50_000 });
    expect(text).toContain('reading');
    expect(text).toContain(' 50%  1.0 MB / 2.0 MB  50,000 flows  50k flows/s');
    p.done();
    expect(text.endsWith('\r\x1b[2K')).toBe(true);
    let piped = '';
    const pipe = { isTTY: false, write: (c: string) => ((piped += c), true) } as unknown as NodeJS.WriteStream;
    const q = createProgress(100, { stream: pipe });
    q.update({ bytes: 50, flows: 1 });
    q.done();
    expect(piped).toBe('');
    expect(progressLine('reading', 5, 0, 1, 1000)).toBe('reading 5 B  1 flows  1 flows/s');
  });
});
