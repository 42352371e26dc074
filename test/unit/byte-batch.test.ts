// ByteBatch (`trace -o json`'s output batch): numbers as JSON.stringify writes them, text as UTF-8,
// bytes in order across chunks, handed-out bytes never overwritten (a pipe's stream writes them
// after write() returns), and abort() dropping exactly the line being written, across a chunk too.
import { describe, expect, it } from 'vitest';
import { ByteBatch } from '../../src/cli/output/byte-batch.js';

describe('ByteBatch', () => {
  it('writes numbers as JSON.stringify does', () => {
    const values = [0, -0, 1, 9, 10, 99, 100, 4242, 65535, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 4026531840, 9_999_999_999, 10_000_000_000, 2 ** 53 - 1, 2 ** 53, 2 ** 64, 1e21, 1.5, -1, -(2 ** 31), NaN, Infinity, -Infinity];
    for (let k = 1; k < 2 ** 53; k = k * 10 + 7) values.push(k, k - 1, k + 1);
    for (const v of values) {
      const out = new ByteBatch();
      out.number(v);
      expect(out.take()!.toString('latin1'), String(v)).toBe(JSON.stringify(v));
    }
  });

  it('writes bytes, text and numbers in order across chunks of a megabyte', () => {
    const out = new ByteBatch();
    const pieces = [Buffer.from('short'), Buffer.from('a longer piece than sixteen bytes'), Buffer.alloc(70_000, 0x61), Buffer.alloc(3 * 1024 * 1024, 0x62)];
    let want = '';
    for (let i = 0; i < 200; i++) {
      const p = pieces[i % pieces.length]!;
      out.raw(p);
      out.text('é ü 漢字 \ud83d\ude00');
      out.number(i * 1_000_003);
      want += p.toString('latin1') + Buffer.from('é ü 漢字 \ud83d\ude00', 'utf8').toString('latin1') + String(i * 1_000_003);
    }
    expect(out.take()!.toString('latin1')).toBe(want);
    expect(out.empty).toBe(true);
    expect(out.take()).toBeUndefined();
  });

  it('never writes over bytes it handed out', () => {
    const out = new ByteBatch();
    out.text('first batch\n');
    const first = out.take()!;
    for (let i = 0; i < 50_000; i++) out.text('second batch, overwriting nothing\n');
    expect(first.toString()).toBe('first batch\n');
    expect(out.take()!.toString()).toBe('second batch, overwriting nothing\n'.repeat(50_000));
  });

  it('writes a chunk again only once every piece taken from it was released, and then does (no new memory per megabyte)', () => {
    const out = new ByteBatch();
    let s = 99;
    const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    // A stream that writes each piece some takes later (a pipe): until then its bytes must stay.
    const held: { piece: Buffer; copy: Buffer; due: number }[] = [];
    const memories = new Set<ArrayBufferLike>();
    let written = 0;
    for (let t = 0; t < 3000; t++) {
      const lines = 1 + Math.floor(rnd() * 400);
      for (let i = 0; i < lines; i++) {
        out.text(`{"t":${t},"i":`);
        out.number(i);
        out.raw(Buffer.from(',"pad":"' + 'x'.repeat(Math.floor(rnd() * 300)) + '"}\n'));
      }
      // Now and then a line larger than a chunk (a chunk of its own, never spared into a smaller need).
      if (t % 997 === 0) out.raw(Buffer.alloc(1024 * 1024 + 5, 0x7a));
      const piece = out.take()!;
      // A chunk's memory (a piece that ran across chunks is a copy of its own, sized to it: smaller
      // but for the few that hold a line larger than a chunk).
      if (piece.buffer.byteLength >= 1024 * 1024) memories.add(piece.buffer);
      written += piece.length;
      held.push({ piece, copy: Buffer.from(piece), due: t + Math.floor(rnd() * 6) });
      for (let k = held.length - 1; k >= 0; k--) {
        const h = held[k]!;
        if (h.due > t) continue;
        expect(h.piece.equals(h.copy)).toBe(true);
        out.release(h.piece);
        held.splice(k, 1);
      }
    }
    for (const h of held) expect(h.piece.equals(h.copy)).toBe(true);
    expect(written).toBeGreaterThan(60 * 1024 * 1024);
    // Without release, each megabyte was a new chunk (some 60); with it, a few go round.
    expect(memories.size).toBeGreaterThan(1);
    expect(memories.size).toBeLessThanOrEqual(12);
  });

  it('takePieces(): the batch as pieces of its chunks, in order, no copy; each written again only once all its pieces were released', () => {
    const out = new ByteBatch();
    let s = 7;
    const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const held: { pieces: Buffer[]; copy: Buffer; due: number }[] = [];
    const memories = new Set<ArrayBufferLike>();
    let written = 0;
    let crossed = 0;
    for (let t = 0; t < 2000; t++) {
      // A storm's 20 ms: some 1,000 lines of ~400 bytes, so every few batches run into a new chunk.
      const lines = 1 + Math.floor(rnd() * 1200);
      let expected = '';
      for (let i = 0; i < lines; i++) {
        const line = `{"t":${t},"i":${i},"pad":"${'y'.repeat(Math.floor(rnd() * 700))}"}\n`;
        out.text(line);
        expected += line;
      }
      const pieces = out.takePieces()!;
      if (pieces.length > 1) crossed++;
      // Pieces of chunks, never a copy: each is a chunk's memory.
      for (const p of pieces) {
        expect(p.buffer.byteLength).toBeGreaterThanOrEqual(1024 * 1024);
        memories.add(p.buffer);
      }
      const copy = Buffer.concat(pieces);
      expect(copy.toString()).toBe(expected);
      written += copy.length;
      held.push({ pieces, copy, due: t + Math.floor(rnd() * 6) });
      for (let k = held.length - 1; k >= 0; k--) {
        const h = held[k]!;
        if (h.due > t) continue;
        expect(Buffer.concat(h.pieces).equals(h.copy)).toBe(true);
        for (const p of h.pieces) out.release(p);
        held.splice(k, 1);
      }
    }
    for (const h of held) expect(Buffer.concat(h.pieces).equals(h.copy)).toBe(true);
    expect(written).toBeGreaterThan(300 * 1024 * 1024);
    expect(crossed).toBeGreaterThan(100);
    // A few chunks go round (some 300 without release).
    expect(memories.size).toBeLessThanOrEqual(12);
    expect(out.takePieces()).toBeUndefined();
  });

  it('never writes over a piece that is not released', () => {
    const out = new ByteBatch();
    out.text('kept out\n');
    const kept = out.take()!;
    for (let t = 0; t < 200; t++) {
      for (let i = 0; i < 1000; i++) out.text('another line of the storm, 40 bytes.....\n');
      out.release(out.take()!);
    }
    expect(kept.toString()).toBe('kept out\n');
  });

  it('drops the line being written on abort(), also when it ran into a new chunk', () => {
    const out = new ByteBatch();
    out.begin();
    out.text('kept\n');
    out.begin();
    out.raw(Buffer.alloc(1024 * 1024 + 10, 0x78)); // past the first chunk
    out.number(12345);
    out.abort();
    out.begin();
    out.text('after\n');
    expect(out.take()!.toString()).toBe('kept\nafter\n');
  });
});
