// LineBatch (trace's output batch): the bytes of a batch are the lines' UTF-8 and a newline each,
// across chunk boundaries and for awkward text, and a taken batch is not overwritten by later lines
// (a pipe's stream writes it after write() returns).
import { describe, expect, it } from 'vitest';
import { LineBatch } from '../../src/cli/output/line-batch.js';

const AWKWARD = ['', 'plain', 'é ü 漢字', '\ud83d\ude00 emoji', 'lone \ud800 surrogate', 'x'.repeat(70_000), '漢'.repeat(30_000), '{"a":1}'];

describe('LineBatch', () => {
  it('writes each line as UTF-8 with a newline, in order, across chunks', () => {
    const batch = new LineBatch();
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const line = `${AWKWARD[i % AWKWARD.length]} ${i}`;
      lines.push(line);
      batch.add(line);
    }
    const bytes = batch.take();
    expect(bytes).toBeDefined();
    expect(Buffer.compare(bytes!, Buffer.from(lines.map((l) => l + '\n').join(''), 'utf8'))).toBe(0);
  });

  it('is empty before the first line and after take()', () => {
    const batch = new LineBatch();
    expect(batch.empty).toBe(true);
    expect(batch.take()).toBeUndefined();
    batch.add('');
    expect(batch.empty).toBe(false);
    expect(batch.take()!.toString()).toBe('\n');
    expect(batch.take()).toBeUndefined();
  });

  it('never reuses the memory of a batch it handed out', () => {
    const batch = new LineBatch();
    batch.add('first batch');
    const first = batch.take()!;
    for (let i = 0; i < 100; i++) batch.add('second batch, overwriting nothing');
    expect(first.toString()).toBe('first batch\n');
    expect(batch.take()!.toString()).toBe('second batch, overwriting nothing\n'.repeat(100));
  });
});
