// The one file-level atomic writer (src/atomic-file.ts): whole or not at all, nothing left behind.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/flows/atomic-file.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('creates and replaces a file, leaving no temporary file', () => {
    dir = mkdtempSync(join(tmpdir(), 'netpol-atomic-'));
    const path = join(dir, 'out.yaml');
    writeFileAtomic(path, 'first\n');
    writeFileAtomic(path, Buffer.from('second\n'));
    expect(readFileSync(path, 'utf8')).toBe('second\n');
    expect(readdirSync(dir)).toEqual(['out.yaml']);
  });

  it('replaces a symlink at the target rather than writing through it', () => {
    dir = mkdtempSync(join(tmpdir(), 'netpol-atomic-'));
    writeFileSync(join(dir, 'elsewhere'), 'kept\n');
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'out.yaml'));
    writeFileAtomic(join(dir, 'out.yaml'), 'new\n');
    expect(readFileSync(join(dir, 'elsewhere'), 'utf8')).toBe('kept\n');
    expect(readFileSync(join(dir, 'out.yaml'), 'utf8')).toBe('new\n');
  });

  it('on failure throws, keeps the old file and removes its temporary file', () => {
    dir = mkdtempSync(join(tmpdir(), 'netpol-atomic-'));
    const path = join(dir, 'out.yaml');
    writeFileSync(path, 'old\n');
    mkdirSync(join(dir, 'sub'));
    // A directory where the file should go: the rename fails after the temporary file was written.
    expect(() => writeFileAtomic(join(dir, 'sub'), 'x')).toThrow();
    expect(readFileSync(path, 'utf8')).toBe('old\n');
    expect(readdirSync(dir).sort()).toEqual(['out.yaml', 'sub']);
  });
});
