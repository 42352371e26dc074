// Untrusted input never crashes, hangs or balloons: each defect of issue 9's inputs part, through
// the functions the CLI calls (loadSnapshot, loadPolicyFiles, the flow readers and FlowWriter).
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ipFamily, canonicalIp } from '../../src/flows/ip.js';
import { loadSnapshot } from '../../src/cluster/snapshot.js';
import { InputError } from '../../src/errors.js';
import { FlowWriter, readAllFlows, TornTailError } from '../../src/flows/jsonl.js';
import { aggregateFiles } from '../../src/flows/parallel.js';
import { portNameErrors } from '../../src/policy/k8s-names.js';
import { checkSnapshotPolicy, loadPolicyFiles } from '../../src/policy/load.js';

const REPRO = new URL('../../fixtures/repro/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'netpol-untrusted-'));
// Its inputs are hundreds of megabytes (the memory bounds are tested on them): never left behind.
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const flow = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ v: 1, proto: 'TCP', src: { ip: '10.0.0.1' }, dst: { ip: '10.0.0.2', port: 80 }, ...over });
const file = (name: string, text: string | Buffer) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

function thrown(f: () => unknown): InputError {
  try {
    f();
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('expected an InputError');
}

async function rejected(p: Promise<unknown>): Promise<InputError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('expected an InputError');
}

/** Runs `f` and returns how long it took, in milliseconds. */
function timed(f: () => void): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

describe('YAML aliases are bounded on every path', () => {
  it('an alias bomb in a snapshot is an input error at the alias, quickly and without gigabytes', () => {
    const p = join(REPRO, 'c-billion-laughs.yaml');
    const before = process.memoryUsage().rss;
    let err!: InputError;
    const ms = timed(() => (err = thrown(() => loadSnapshot([p]))));
    expect(err.message).toBe(`${p}:4: invalid YAML: aliases expand to too many nodes (at most 100 alias expansions per document)`);
    expect(ms).toBeLessThan(2000);
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 2 ** 20);
  });

  it('more than 100 aliases plus another error: the alias limit, not an internal error in the re-parse', () => {
    const p = join(REPRO, 'c-alias-count.yaml');
    expect(thrown(() => loadSnapshot([p])).message).toBe(`${p}:4: invalid YAML: aliases expand to too many nodes (at most 100 alias expansions per document)`);
  });

  it('an undefined alias names its line, in a snapshot and in a policy file', () => {
    const c = join(REPRO, 'c-undef-alias.yaml');
    expect(thrown(() => loadSnapshot([c])).message).toBe(`${c}:3: invalid YAML: alias *nope names no anchor defined before it`);
    const p = join(REPRO, 'p-undef-alias.yaml');
    expect(thrown(() => loadPolicyFiles([p])).message).toBe(`${p}:4: invalid YAML: alias *nope names no anchor defined before it`);
  });

  it('an alias bomb in a policy file is an input error', () => {
    const bomb = readFileSync(join(REPRO, 'c-billion-laughs.yaml'), 'utf8').replace(/items:[\s\S]*/, 'items: []\n');
    const p = file('p-bomb.yaml', bomb.replace('kind: List', 'kind: List\nmetadata: {name: x}'));
    expect(thrown(() => loadPolicyFiles([p])).message).toMatch(/:5: invalid YAML: aliases expand to too many nodes/);
  });

  it('a few aliases in a hand-written snapshot still work (the bounded parser takes them)', () => {
    const p = file('anchors.yaml', 'apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a, labels: &l {app: a}}}\n- {apiVersion: v1, kind: Pod, metadata: {name: b, labels: *l}}\n');
    expect(loadSnapshot([p]).pods.map((x) => x.metadata?.labels)).toEqual([{ app: 'a' }, { app: 'a' }]);
  });
});

describe('port names are checked in linear time', () => {
  it('p-redos.yaml is rejected in well under a second', () => {
    const p = join(REPRO, 'p-redos.yaml');
    let err!: InputError;
    const ms = timed(() => (err = thrown(() => loadPolicyFiles([p]))));
    expect(ms).toBeLessThan(1000);
    expect(err.message).toContain(`${p}:7: spec.egress[0].ports[0].port:`);
  });

  it('long almost-names of any length return at once with the same verdicts', () => {
    for (const n of [30, 40, 1000, 100_000]) {
      const ms = timed(() => expect(portNameErrors(`${'a'.repeat(n)}_`).length).toBeGreaterThan(0));
      expect(ms).toBeLessThan(200);
    }
    expect(portNameErrors('http')).toEqual([]);
    expect(portNameErrors('a-b')).toEqual([]);
    expect(portNameErrors('-ab')).not.toEqual([]);
    expect(portNameErrors('ab-')).not.toEqual([]);
  });
});

describe('wrongly typed snapshot fields are input errors naming file, line and field', () => {
  const cases: [string, string][] = [
    ['c-ownerrefs-map.yaml', ':3: metadata.ownerReferences: must be a list, got a mapping (in Pod default/p)'],
    ['c-ownerref-noname.yaml', ':3: metadata.ownerReferences[0].name: required (in Pod default/p)'],
    ['c-ownerref-numname.yaml', ':3: metadata.ownerReferences[0].name: must be a string, got a number (5) (in Pod default/p)'],
    ['c-labels-str.yaml', ':3: metadata.labels: must be a mapping, got a string ("run") (in Pod default/p)'],
    ['c-podip-num.yaml', ':4: status.podIP: must be an IP address (a string), got a number (5) (in Pod default/p)'],
    ['c-podips-num.yaml', ':4: status.podIPs: must be a list, got a number (30) (in Pod default/p)'],
    ['c-eps-ports-map.yaml', ':15: ports: must be a list, got a mapping (in EndpointSlice default/s-1)'],
    ['c-podip-zone.yaml', ':4: status.podIP: an IPv6 zone id is not allowed in an address: "fe80::1%eth0" (in Pod default/p)'],
  ];
  for (const [name, message] of cases) {
    it(name, () => {
      const p = join(REPRO, name);
      expect(thrown(() => loadSnapshot([p])).message).toBe(`${p}${message}`);
    });
  }

  it('names the line of the field itself in a multi-line List item', () => {
    const p = file('list.yaml', 'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n  status:\n    podIPs:\n    - ip: 10.0.0.1\n    - ip: [1]\n');
    expect(thrown(() => loadSnapshot([p])).message).toBe(`${p}:11: status.podIPs[1].ip: must be an IP address (a string), got a list (in Pod a)`);
  });

  it('found by the fuzzer: null list items, null addresses, kinds named after Object properties', () => {
    const nullRef = file('null-ref.yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  ownerReferences:\n  - null\n');
    expect(thrown(() => loadSnapshot([nullRef])).message).toBe(`${nullRef}:6: metadata.ownerReferences[0]: a list item must not be null (in Pod p)`);
    const nullAddress = file('null-address.yaml', 'apiVersion: v1\nkind: Node\nmetadata: {name: n}\nstatus:\n  addresses:\n  - {type: InternalIP, address: null}\n');
    expect(thrown(() => loadSnapshot([nullAddress])).message).toBe(`${nullAddress}:6: status.addresses[0].address: required (in Node n)`);
    const nullPort = file('null-port.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - {port: null}\n');
    expect(thrown(() => loadSnapshot([nullPort])).message).toBe(`${nullPort}:6: spec.ports[0].port: must be an integer, got null (in Service s)`);
    const ctor = file('ctor.yaml', 'apiVersion: v1\nkind: constructor\nmetadata: {name: x}\n');
    expect(thrown(() => loadSnapshot([ctor])).message).toContain(`${ctor}:1: kind: unsupported kind constructor`);
    // An empty `labels:` (null) is still no labels.
    const empty = file('empty-labels.yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n');
    expect(loadSnapshot([empty]).pods).toHaveLength(1);
  });

  it('NetworkPolicies in a snapshot are validated as policy files are (a mistyped rule is no allow-all)', () => {
    const p = join(REPRO, 'c-np-badrule.yaml');
    expect(thrown(() => loadSnapshot([p], { checkNetworkPolicy: checkSnapshotPolicy })).message).toBe(
      `${p}:15: spec.egress[0].to: NetworkPolicy deny-egress: must be a list, got a mapping`,
    );
    // What kubectl prints for a valid policy, status included, passes.
    const ok = file('np-ok.yaml', 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: default, resourceVersion: "1", uid: x, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z"}\nspec: {podSelector: {}, policyTypes: [Ingress]}\nstatus: {}\n');
    expect(loadSnapshot([ok], { checkNetworkPolicy: checkSnapshotPolicy }).networkPolicies).toHaveLength(1);
  });

  it('a zone id is not an address to the IP helpers (no URL parser TypeError)', () => {
    expect(ipFamily('fe80::1%eth0')).toBe(0);
    expect(canonicalIp('fe80::1%eth0')).toBe('fe80::1%eth0');
  });
});

describe('flow records', () => {
  it('an IPv6 zone id in a flow is an input error naming the field', async () => {
    const p = join(REPRO, 'f-zone.jsonl');
    expect((await rejected(readAllFlows([p]))).message).toBe(
      `${p}:1: dst.ip: an IPv6 zone id is not allowed ("fe80::1%eth0"): addresses are matched without the interface`,
    );
    // The aggregation fast path (the scanner) takes the same decision.
    expect((await rejected(aggregateFiles([p], { threads: 1 }))).message).toContain(':1: dst.ip: an IPv6 zone id is not allowed');
    const src = file('src-zone.jsonl', `${flow({ src: { ip: 'fe80::1%25eth0' } })}\n`);
    expect((await rejected(readAllFlows([src]))).message).toContain(':1: src.ip: an IPv6 zone id is not allowed');
  });

  it('a deeply nested value in a known field is an input error, not a stack overflow', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    for (const field of ['v', 'proto', 'ts']) {
      const p = file(`deep-${field}.jsonl`, `{"v":1,"proto":"TCP","src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2","port":80},"${field}":${deep}}\n`);
      const err = await rejected(readAllFlows([p]));
      expect(err.message).toMatch(new RegExp(`^${p}:1: ${field}: .*a list`));
      expect((await rejected(aggregateFiles([p], { threads: 1 }))).message).toMatch(new RegExp(`:1: ${field}: `));
    }
  });
});

describe('flow lines are bounded', () => {
  const long = (bytes: number) => `${flow()}\n${flow({ pad: 'x'.repeat(bytes) })}\n${flow()}\n`;

  it('a line over the limit (1 MiB) is an input error naming file and line, in every reader', async () => {
    const p = file('long.jsonl', long(2 * 2 ** 20));
    const message = `${p}:2: line longer than 1048576 bytes (a flow record is a few hundred): not a flow recording, or a corrupted one; NETPOL_MAX_LINE_BYTES raises the limit`;
    expect((await rejected(readAllFlows([p]))).message).toBe(message);
    expect((await rejected(aggregateFiles([p], { threads: 1 }))).message).toBe(message);
    // The parallel readers (worker threads, built code only): test/cli/inputs-untrusted.test.ts.
  });

  it('a line just under the limit is read', async () => {
    const p = file('under.jsonl', long(2 ** 20 - 200));
    expect(await readAllFlows([p])).toHaveLength(3);
  });

  it('a 300 MB line is refused in bounded memory (it used to take 1.25 GB)', async () => {
    const p = file('huge.jsonl', long(300 * 2 ** 20));
    const before = process.memoryUsage().rss;
    const t = performance.now();
    expect((await rejected(readAllFlows([p]))).message).toContain(':2: line longer than');
    expect(performance.now() - t).toBeLessThan(2000);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 2 ** 20);
  });

  it('NETPOL_MAX_LINE_BYTES sets the limit, and a wrong value is an input error', async () => {
    const p = file('limit.jsonl', long(2 * 2 ** 20));
    process.env.NETPOL_MAX_LINE_BYTES = String(4 * 2 ** 20);
    try {
      expect(await readAllFlows([p])).toHaveLength(3);
      process.env.NETPOL_MAX_LINE_BYTES = 'lots';
      expect((await rejected(readAllFlows([p]))).message).toContain('NETPOL_MAX_LINE_BYTES: must be a whole number of bytes');
    } finally {
      delete process.env.NETPOL_MAX_LINE_BYTES;
    }
  });
});

describe('a torn last line', () => {
  const whole = `${flow({ id: 'a' })}\n${flow({ id: 'b' })}\n`;
  const torn = `${whole}{"v":1,"proto":"TCP","src":{"ip":"10.`;

  it('is reported as a torn tail with its byte offset by every reader, not as bad JSON', async () => {
    const p = file('torn.jsonl', torn);
    for (const read of [
      () => readAllFlows([p]),
      () => aggregateFiles([p], { threads: 1 }),
    ]) {
      const err = await rejected(read());
      expect(err.message).toMatch(new RegExp(`^${p}:3: torn last line: 37 bytes at byte offset ${whole.length} without a newline`));
      expect(err.message).toContain(`truncate -s ${whole.length} ${p}`);
    }
    expect(await rejected(readAllFlows([p]))).toBeInstanceOf(TornTailError);
  });

  it('a last line without newline that is a whole flow is still read (hand-written files)', async () => {
    expect(await readAllFlows([file('no-newline.jsonl', `${whole}${flow({ id: 'c' })}`)])).toHaveLength(3);
  });

  it('is moved aside when the recording is opened for appending, and recording continues on a fresh line', async () => {
    const p = file('rec.jsonl', torn);
    const warnings: string[] = [];
    const writer = new FlowWriter(p, { warn: (m) => warnings.push(m) });
    writer.write({ v: 1, id: 'c', proto: 'TCP', src: { ip: '10.0.0.1' }, dst: { ip: '10.0.0.2', port: 80 } });
    writer.close();
    expect(writer.repaired).toEqual({ offset: whole.length, bytes: 37, savedTo: `${p}.torn-${whole.length}` });
    expect(warnings).toEqual([
      `${p}: the last line was torn (37 bytes at byte offset ${whole.length} without a newline, cut mid-write); moved it to ${p}.torn-${whole.length} and recording continues after the last whole line`,
    ]);
    expect(readFileSync(`${p}.torn-${whole.length}`, 'utf8')).toBe('{"v":1,"proto":"TCP","src":{"ip":"10.');
    expect((await readAllFlows([p])).map((f) => f.id)).toEqual(['a', 'b', 'c']);
    // A second repair at the same offset never overwrites the first fragment.
    writeFileSync(p, torn);
    const again = new FlowWriter(p, { warn: () => {} });
    again.close();
    expect(again.repaired?.savedTo).toBe(`${p}.torn-${whole.length}.1`);
  });

  it('a whole file without newline over the line limit is refused, not truncated', () => {
    const p = file('blob.jsonl', Buffer.alloc(2 * 2 ** 20, 0x61));
    expect(thrown(() => new FlowWriter(p, { warn: () => {} })).message).toContain('does not end with a newline and its last line is over 1048576 bytes');
    expect(lstatSync(p).size).toBe(2 * 2 ** 20);
  });
});

describe('--record refuses a symlinked target', () => {
  it('does not write through a symlink', () => {
    const target = file('elsewhere.jsonl', '');
    const link = join(dir, 'link.jsonl');
    symlinkSync(target, link);
    expect(thrown(() => new FlowWriter(link)).message).toBe(`${link}: is a symbolic link: refusing to record through it (give the real file)`);
    expect(readFileSync(target, 'utf8')).toBe('');
    const dangling = join(dir, 'dangling.jsonl');
    symlinkSync(join(dir, 'not-yet.jsonl'), dangling);
    expect(() => new FlowWriter(dangling)).toThrow(/is a symbolic link/);
    expect(existsSync(join(dir, 'not-yet.jsonl'))).toBe(false);
  });
});
