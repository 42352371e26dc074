/**
 * `netpol learn --local`: containers connect to each other and to a server in this test's own
 * network namespace; the recording (JSONL v1) holds one record per edge (the kernel de-duplicates
 * repeats) and the learned policies allow exactly what was seen.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { learnLocal, type LearnLocalOptions } from '../../src/cli/commands/learn/local.js';
import type { LearnRow } from '../../src/cli/views/learn-model.js';
import { ensureBuilt, netpol } from '../support/cli.js';
import { parseFlowRecord } from '../../src/flows/record.js';
import { busyboxBin, ensureBpfBuilt } from './support/agent-events.js';
import { docker, ensureBusyboxImage, ensureDockerd, inspect, removeContainer, runContainer, waitContainer } from './support/docker.js';
import { type Link, Netns, destroyAll, link, waitListening } from './support/netns.js';

const WEB = `netpol-web-${process.pid}`;
const CLIENT = `netpol-client-${process.pid}`;
const AGAIN = `netpol-again-${process.pid}`;
let server: Netns;
let wire: Link;
let bin: string;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  ensureBpfBuilt();
  await ensureDockerd();
  ensureBusyboxImage();
  bin = busyboxBin();
  dir = mkdtempSync(join(tmpdir(), 'netpol-learn-'));
  server = Netns.create('npl');
  wire = link(null, server);
  for (const port of [80, 443]) {
    children.push(server.spawn([join(bin, 'httpd'), '-f', '-p', String(port), '-h', '/tmp']));
    await waitListening(server, port);
  }
  runContainer({ name: WEB, cmd: ['httpd', '-f', '-p', '8080', '-h', '/tmp'], labels: { 'com.docker.compose.service': 'web' } });
  ensureBuilt();
}, 300_000);

afterAll(() => {
  removeContainer(AGAIN);
  removeContainer(CLIENT);
  removeContainer(WEB);
  for (const c of children) c.kill('SIGKILL');
  destroyAll();
  if (bin) rmSync(bin, { recursive: true, force: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('learn --local', () => {
  it('records each edge once, durably, and learns the policy of the containers that connected', async () => {
    const webIp = inspect(WEB, '{{.NetworkSettings.IPAddress}}');
    const record = join(dir, 'rec.jsonl');
    const out = join(dir, 'policies');
    const abort = new AbortController();
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    let ready!: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
    const run = learnLocal({ record, out, dns: false }, { stderr, stdout: new PassThrough(), signal: abort.signal, onReady: () => ready() });
    run.catch(() => ready());
    await readyP;
    const s = wire.ipv4B;
    // Three connects to :80, one to :443, two to the web container, one refused.
    runContainer({
      name: CLIENT,
      cmd: ['sh', '-c', `for i in 1 2 3; do nc ${s} 80 </dev/null; done; nc ${s} 443 </dev/null; nc ${webIp} 8080 </dev/null; nc ${webIp} 8080 </dev/null; nc ${s} 8443 </dev/null; true`],
    });
    const clientId = inspect(CLIENT, '{{.Id}}');
    expect(await waitContainer(CLIENT)).toBe(0);
    // Durable as it goes: the recording has the edges before learning ends.
    const deadline = Date.now() + 10_000;
    const mine = () =>
      existsSync(record)
        ? readFileSync(record, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l, i) => parseFlowRecord(JSON.parse(l), record, i + 1))
            .filter((r) => r.src.container === CLIENT)
        : [];
    while (mine().length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (mine().length !== 4) console.error(err, existsSync(record) ? readFileSync(record, 'utf8') : 'no recording');
    expect(mine()).toHaveLength(4);
    abort.abort();
    expect(await run).toBe(0);

    const recs = mine();
    const byDst = (port: number) => recs.filter((r) => r.dst.port === port);
    expect(byDst(80)).toHaveLength(1); // three connects, one edge
    expect(byDst(443)).toHaveLength(1);
    expect(byDst(8080)).toHaveLength(1);
    expect(byDst(8443)).toHaveLength(1);
    expect(byDst(80)[0]).toMatchObject({
      v: 1,
      node: hostname(),
      proto: 'TCP',
      src: { namespace: 'local', pod: CLIENT, container: CLIENT, comm: 'nc' },
      dst: { ip: s, port: 80 },
      outcome: 'established',
    });
    expect(byDst(80)[0]?.src.pid).toBeGreaterThan(1);
    // The client's address on the docker bridge (it exited, so compare with the bridge subnet).
    const gateway = docker(['network', 'inspect', 'bridge', '--format', '{{(index .IPAM.Config 0).Subnet}}']);
    expect(byDst(80)[0]?.src.ip?.split('.').slice(0, 2)).toEqual(gateway.split('.').slice(0, 2));
    expect(byDst(80)[0]?.src.port).toBeGreaterThan(0);
    expect(byDst(80)[0]?.latencyNs).toBeGreaterThan(0);
    expect(byDst(8080)[0]).toMatchObject({ dst: { ip: webIp, port: 8080, namespace: 'local', pod: WEB }, outcome: 'established' });
    expect(byDst(8443)[0]).toMatchObject({ outcome: 'refused' });
    expect(err).toMatch(/0 events lost/);
    expect(clientId).toHaveLength(64);

    const policy = parseYaml(readFileSync(join(out, 'local', `${CLIENT}.yaml`), 'utf8')) as Record<string, any>;
    expect(policy.spec.podSelector).toEqual({ matchLabels: { run: CLIENT } });
    const egress = policy.spec.egress as Array<Record<string, any>>;
    const toServer = egress.find((r) => r.to?.some((p: any) => p.ipBlock?.cidr === `${s}/32`));
    expect(toServer?.ports).toEqual(
      expect.arrayContaining([
        { protocol: 'TCP', port: 80 },
        { protocol: 'TCP', port: 443 },
      ]),
    );
    const toWeb = egress.find((r) => r.to?.some((p: any) => p.podSelector?.matchLabels?.run === WEB));
    expect(toWeb?.ports).toEqual([{ protocol: 'TCP', port: 8080 }]);
    // The web container received traffic, so it gets an ingress policy from the client.
    const webPolicy = readFileSync(join(out, 'local', `${WEB}.yaml`), 'utf8');
    expect(webPolicy).toContain(`run: ${CLIENT}`);
  }, 90_000);

  /** One learn --local session while `cmd` runs in container AGAIN; resolves with the kernel's summary. */
  async function session(opts: LearnLocalOptions, cmd: string, until: () => boolean) {
    const abort = new AbortController();
    let summary: { flows: number; deduped: number; rows: LearnRow[] } | undefined;
    let ready!: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
    const run = learnLocal(opts, { stderr: new PassThrough(), stdout: new PassThrough(), signal: abort.signal, onReady: () => ready(), onSummary: (s) => (summary = s) });
    run.catch(() => ready());
    await readyP;
    removeContainer(AGAIN);
    runContainer({ name: AGAIN, cmd: ['sh', '-c', cmd] });
    expect(await waitContainer(AGAIN)).toBe(0);
    const deadline = Date.now() + 10_000;
    while (!until() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Let the kernel's count of the last repeats be read once more.
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    expect(await run).toBe(0);
    return summary!;
  }

  function files(root: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string, rel: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
        else out[`${rel}${e.name}`] = readFileSync(join(d, e.name), 'utf8');
      }
    };
    walk(root, '');
    return out;
  }

  it('a recording can be re-learned and audited offline; a second session never narrows; COUNT is the kernel count', async () => {
    const s = wire.ipv4B;
    const webIp = inspect(WEB, '{{.NetworkSettings.IPAddress}}');
    const record = join(dir, 'sessions.jsonl');
    const out = join(dir, 'sessions-policies');
    const lines = () => (existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter((l) => l.includes(AGAIN)).length : 0);

    // Session 1: :80 three times, :443, the web container.
    const first = await session({ record, out }, `for i in 1 2 3; do nc ${s} 80 </dev/null; done; nc ${s} 443 </dev/null; nc ${webIp} 8080 </dev/null; true`, () => lines() >= 3);
    const row80 = first.rows.find((r) => r.workload === `local/${AGAIN}` && r.peer === `r/${s}:80`);
    // Item 7: the screen's COUNT is what the kernel counted (three connects of one edge), not 1.
    expect(row80?.count).toBe(3);
    expect(first.rows.filter((r) => r.workload === `local/${AGAIN}`).reduce((n, r) => n + r.count, 0)).toBe(5);

    // Item 3: the containers are recorded beside the recording, as a snapshot --cluster reads.
    const snapshot = join(dir, 'sessions.cluster.yaml');
    expect(readFileSync(snapshot, 'utf8')).toContain(`name: ${AGAIN}`);
    expect(readFileSync(snapshot, 'utf8')).toContain(`name: ${WEB}`);
    const live1 = files(out);
    expect(live1[`local/${AGAIN}.yaml`]).toContain(`cidr: ${s}/32`);
    // learn --flows REC (no --cluster: it finds the snapshot) writes the same tree, byte for byte.
    const offline1 = join(dir, 'offline-1');
    const l1 = netpol(['learn', '--flows', record, '--out', offline1]);
    expect(l1.stderr).toContain('sessions.cluster.yaml');
    expect(l1.code).toBe(0);
    expect(files(offline1)).toEqual(live1);
    // diff judges it: every flow allowed by the learned policies, none "neither end is a pod".
    const d1 = netpol(['diff', '--flows', record, '--policies', out, '-o', 'json']);
    expect(d1.code).toBe(0);
    const audit = JSON.parse(d1.stdout) as { flows: { src: string; verdict: string; reason: string }[]; summary: { denied: number; unjudged: number } };
    const mine = audit.flows.filter((f) => f.src.startsWith(`p/local/${AGAIN}:`));
    expect(mine).toHaveLength(3);
    for (const f of mine) expect(f.reason).toMatch(/allowed by local\//);
    expect(audit.summary).toMatchObject({ denied: 0, unjudged: 0 });

    // Session 2 appends to the same recording, and only reaches :80 this time.
    await session({ record, out }, `nc ${s} 80 </dev/null; nc ${s} 80 </dev/null; true`, () => lines() >= 4);
    const live2 = files(out);
    // Item 5: learned from the whole recording: :443 and the web container are still allowed.
    expect(live2[`local/${AGAIN}.yaml`]).toContain('port: 443');
    expect(live2[`local/${AGAIN}.yaml`]).toContain(`run: ${WEB}`);
    const offline2 = join(dir, 'offline-2');
    expect(netpol(['learn', '--flows', record, '--out', offline2]).code).toBe(0);
    expect(files(offline2)).toEqual(live2);
    expect(netpol(['diff', '--flows', record, '--policies', out]).code).toBe(0);
  }, 120_000);
});
