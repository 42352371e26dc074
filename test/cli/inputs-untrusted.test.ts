// The smallest crashing inputs found by fuzzing (fixtures/repro/, issue 9), through the real CLI:
// each is exit 2 with file, line and field, in seconds and bounded memory; plus the parallel
// readers (worker threads) on long and torn lines.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, ROOT } from '../support/cli.js';

const REPRO = join(ROOT, 'fixtures/repro');
const CLUSTER = join(ROOT, 'fixtures/demo/cluster.yaml');
const FLOWS = join(ROOT, 'fixtures/demo/flows.jsonl');
const PEAK_RSS = new URL('../../bench/peak-rss.mjs', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'netpol-untrusted-cli-'));

beforeAll(() => ensureBuilt(), 300_000);
// Its inputs are hundreds of megabytes: never left behind.
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The real CLI, timed, with its peak RSS (bench/peak-rss.mjs reports it on exit). */
function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', PEAK_RSS, CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  const seconds = (performance.now() - t) / 1000;
  const rssMiB = Number(/peak-rss-bytes=(\d+)/.exec(r.stderr)?.[1] ?? NaN) / 2 ** 20;
  return { code: r.status, stderr: r.stderr.replace(/peak-rss-bytes=\d+\n?/, ''), seconds, rssMiB };
}

const cases: [string, string[], string][] = [
  ['c-billion-laughs.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':4: invalid YAML: aliases expand to too many nodes'],
  ['c-alias-count.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':4: invalid YAML: aliases expand to too many nodes'],
  ['c-undef-alias.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':3: invalid YAML: alias *nope names no anchor'],
  ['c-ownerrefs-map.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':3: metadata.ownerReferences: must be a list'],
  ['c-ownerref-noname.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':3: metadata.ownerReferences[0].name: required'],
  ['c-ownerref-numname.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':3: metadata.ownerReferences[0].name: must be a string'],
  ['c-labels-str.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':3: metadata.labels: must be a mapping'],
  ['c-podip-num.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':4: status.podIP: must be an IP address'],
  ['c-podips-num.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':4: status.podIPs: must be a list'],
  ['c-eps-ports-map.yaml', ['diff', '--flows', FLOWS, '--cluster'], ':15: ports: must be a list'],
  ['c-podip-zone.yaml', ['diff', '--flows', FLOWS, '--cluster'], ':4: status.podIP: an IPv6 zone id is not allowed'],
  // Was exit 0, every flow "allowed by" the policy: a rule's `to` as a mapping read as "to anywhere".
  ['c-np-badrule.yaml', ['diff', '--flows', FLOWS, '--cluster'], ':15: spec.egress[0].to: NetworkPolicy deny-egress: must be a list'],
  // Found by bench/fuzz.mjs (seed 1): the YAML parser's own stack; a node address without address.
  ['c-fuzz-deep-seq.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':7: invalid YAML: nested too deeply to read'],
  ['c-fuzz-deep-seq-2.yaml', ['diff', '--flows', FLOWS, '--cluster'], ':12: invalid YAML: nested too deeply to read'],
  ['c-fuzz-node-noaddress.yaml', ['learn', '--flows', FLOWS, '--cluster'], ':30: status.addresses[0].address: required'],
  ['p-undef-alias.yaml', ['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies'], ':4: invalid YAML: alias *nope names no anchor'],
  ['p-redos.yaml', ['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies'], ':7: spec.egress[0].ports[0].port: '],
  ['f-zone.jsonl', ['learn', '--cluster', CLUSTER, '--flows'], ':1: dst.ip: an IPv6 zone id is not allowed'],
];

describe('the repro inputs through the CLI', () => {
  for (const [name, args, where] of cases) {
    it(`${name}: exit 2 naming file, line and field, under 5 s and 300 MiB`, () => {
      const file = join(REPRO, name);
      const r = run([...args, file]);
      expect(r.stderr).toContain(`error: ${file}${where}`);
      expect(r.code).toBe(2);
      expect(r.seconds).toBeLessThan(5);
      expect(r.rssMiB).toBeLessThan(300);
    });
  }
});

describe('long and torn lines in the parallel readers', () => {
  const flow = (i: number) => JSON.stringify({ v: 1, id: `f${i}`, proto: 'TCP', src: { ip: '10.244.0.12' }, dst: { ip: '203.0.113.7', port: 443 } });
  const many = Array.from({ length: 20_000 }, (_, i) => flow(i)).join('\n') + '\n';
  const parallel = { NETPOL_PARALLEL_MIN_BYTES: '0' };

  it('a line over 1 MiB in the middle of a recording: exit 2 naming its line, in bounded memory', () => {
    const file = join(dir, 'long.jsonl');
    writeFileSync(file, `${many}{"v":1,"pad":"${'x'.repeat(64 * 2 ** 20)}"}\n${many}`);
    for (const env of [{}, parallel]) {
      const r = run(['learn', '--flows', file, '--cluster', CLUSTER], env);
      expect(r.stderr).toContain(`error: ${file}:20001: line longer than 1048576 bytes`);
      expect(r.code).toBe(2);
      expect(r.rssMiB).toBeLessThan(300);
    }
  });

  it('a torn last line: exit 2 with its byte offset, whichever reader', () => {
    const file = join(dir, 'torn.jsonl');
    writeFileSync(file, `${many}{"v":1,"proto":"TC`);
    for (const env of [{}, parallel]) {
      for (const command of ['learn', 'diff']) {
        const r = run([command, '--flows', file, '--cluster', CLUSTER], env);
        expect(r.stderr).toContain(`error: ${file}:20001: torn last line: 18 bytes at byte offset ${Buffer.byteLength(many)} without a newline`);
        expect(r.code).toBe(2);
      }
    }
  });
});
