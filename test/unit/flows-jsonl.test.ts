import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { aggregateFlows } from '../../src/flows/edges.js';
import { FlowWriter, readAllFlows, readFlows } from '../../src/flows/jsonl.js';
import { InputError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-jsonl-'));
const flow = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ v: 1, proto: 'TCP', src: { namespace: 'default', pod: 'mypod', ip: '10.0.0.1' }, dst: { ip: '1.1.1.1', port: 80 }, ...over });

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function readError(path: string): Promise<InputError> {
  try {
    await readAllFlows([path]);
  } catch (err) {
    return err as InputError;
  }
  throw new Error('expected an error');
}

describe('flow JSONL reader', () => {
  it('reads records with their origin, skipping blank lines, CRLF and a missing final newline', async () => {
    const p = file('ok.jsonl', `${flow({ id: 'a' })}\r\n\n${flow({ id: 'b', dst: { ip: '1.1.1.1', port: 443 } })}`);
    const flows = await readAllFlows([p]);
    expect(flows.map((f) => f.id)).toEqual(['a', 'b']);
    expect(flows[1]!.origin).toEqual({ file: p, line: 3 });
    expect(flows[1]!.dst.port).toBe(443);
  });

  it('keeps unknown fields and upper-cases the protocol', async () => {
    const [f] = await readAllFlows([file('extra.jsonl', flow({ proto: 'tcp', future: { x: 1 } }) + '\n')]);
    expect(f!.proto).toBe('TCP');
    expect(f!.future).toEqual({ x: 1 });
  });

  it('names file and line of invalid JSON', async () => {
    const p = file('bad-json.jsonl', `${flow()}\n{"v":1,\n`);
    const err = await readError(p);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toContain(`${p}:2: not valid JSON`);
  });

  it.each([
    [{ v: 2 }, 'v: unsupported flow record version 2'],
    [{ proto: 'ICMP' }, 'proto: must be one of TCP, UDP, SCTP'],
    [{ dst: { ip: '1.1.1.1', port: 70000 } }, 'dst.port: must be an integer 0-65535'],
    [{ dst: { port: 80 } }, 'dst.ip: required string'],
    [{ src: { port: 5 } }, 'src: needs either src.ip or src.namespace and src.pod'],
    [{ ts: 'yesterday' }, 'ts: must be an RFC 3339 timestamp'],
    [{ outcome: 'maybe' }, 'outcome: must be one of'],
    [{ src: { ip: '10.0.0.1', pod: 7 } }, 'src.pod: must be a string or null'],
    [{ dst: { ip: '1.1.1.999', port: 80 } }, 'dst.ip: not an IP address: "1.1.1.999"'],
    [{ src: { ip: 'example.com' } }, 'src.ip: not an IP address: "example.com"'],
    [{ src: { ip: 42, namespace: 'default', pod: 'mypod' } }, 'src.ip: not an IP address: 42'],
  ])('rejects %j with the field named', async (over, message) => {
    const p = file(`bad-${Math.random()}.jsonl`, `${flow()}\n${flow()}\n${flow(over)}\n`);
    const err = await readError(p);
    expect(err.message).toContain(`${p}:3: ${message}`);
  });

  it('rejects a line that is JSON but not an object', async () => {
    const err = await readError(file('array.jsonl', '[1,2]\n'));
    expect(err.message).toMatch(/:1: \(record\): a flow record must be a JSON object/);
  });

  it('reports a missing file as bad input', async () => {
    const err = await readError(join(dir, 'nope.jsonl'));
    expect(err.message).toContain('cannot read flows: no such file');
  });

  it('reads gzip-compressed recordings', async () => {
    const p = join(dir, 'flows.jsonl.gz');
    writeFileSync(p, gzipSync(`${flow({ id: 'z' })}\n`));
    expect((await readAllFlows([p])).map((f) => f.id)).toEqual(['z']);
  });

  it('streams a large recording split across chunk boundaries without losing a line', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => flow({ id: String(i), src: { ip: `10.0.${i >> 8}.${i & 255}`, port: i } }));
    const p = file('big.jsonl', lines.join('\n') + '\n');
    let n = 0;
    for await (const f of readFlows([p])) {
      expect(f.id).toBe(String(n));
      n++;
    }
    expect(n).toBe(20_000);
  });
});

describe('FlowWriter', () => {
  it('appends durable lines that read back identically', async () => {
    const p = join(dir, 'rec.jsonl');
    const w = new FlowWriter(p);
    w.write({ v: 1, proto: 'TCP', src: { ip: '10.0.0.1', port: 1 }, dst: { ip: '192.0.2.1', port: 80 } });
    w.flush();
    // Flushed data is in the file before close: a killed process keeps it.
    expect(readFileSync(p, 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    w.write({ v: 1, proto: 'TCP', src: { ip: '10.0.0.1', port: 2 }, dst: { ip: '192.0.2.1', port: 443 } });
    w.close();
    const flows = await readAllFlows([p]);
    expect(flows.map((f) => f.dst.port)).toEqual([80, 443]);
    expect(w.count).toBe(2);
  });

  it('refuses a directory', () => {
    expect(() => new FlowWriter(dir)).toThrow(InputError);
  });
});

describe('edge aggregation', () => {
  it('collapses identical connections with count and first/last seen as instants', async () => {
    const p = file(
      'edges.jsonl',
      [
        flow({ ts: '2026-11-24T10:00:00.500Z', id: 'x1' }),
        flow({ ts: '2026-11-24T10:00:00Z', src: { namespace: 'default', pod: 'mypod', ip: '10.0.0.1', port: 999 }, id: 'x2' }),
        flow({ ts: '2026-11-24T10:00:01.250Z', id: 'x3' }),
        flow({ dst: { ip: '1.1.1.1', port: 443 } }),
        flow({ proto: 'UDP' }),
      ].join('\n'),
    );
    const edges = await aggregateFlows(readFlows([p]));
    expect(edges.map((e) => [e.sample.dst.port, e.sample.proto, e.count])).toEqual([
      [80, 'TCP', 3],
      [443, 'TCP', 1],
      [80, 'UDP', 1],
    ]);
    expect(edges[0]!.firstSeen).toBe('2026-11-24T10:00:00Z');
    expect(edges[0]!.lastSeen).toBe('2026-11-24T10:00:01.250Z');
    expect(edges[0]!.ids).toEqual(['x1', 'x2', 'x3']);
  });
});
