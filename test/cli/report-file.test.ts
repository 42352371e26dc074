// Report files are written whole through an exclusive temporary file, and never through a symlink.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeReportFile } from '../../src/cli/output/report-file.js';
import { ensureBuilt, netpol, ROOT } from '../support/cli.js';

const CLUSTER = join(ROOT, 'fixtures/demo/cluster.yaml');
const FLOWS = join(ROOT, 'fixtures/demo/flows.jsonl');
const POLICIES = join(ROOT, 'policies');

beforeAll(() => ensureBuilt(), 300_000);

describe('check report files', () => {
  for (const flag of ['--junit', '--sarif', '--markdown']) {
    it(`${flag} refuses a symlinked target with a clear error (exit 2) and leaves link and victim alone`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'netpol-report-'));
      const victim = join(dir, 'victim.txt');
      writeFileSync(victim, 'precious\n');
      const target = join(dir, 'report.out');
      symlinkSync(victim, target);
      const r = netpol(['check', '--policies', POLICIES, '--flows', FLOWS, '--cluster', CLUSTER, flag, target]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`error: ${target}: refusing to write a report through a symbolic link`);
      expect(lstatSync(target).isSymbolicLink()).toBe(true);
      expect(readlinkSync(target)).toBe(victim);
      expect(readFileSync(victim, 'utf8')).toBe('precious\n');
      expect(readdirSync(dir).sort()).toEqual(['report.out', 'victim.txt']);
    });
  }

  it('replaces an existing report whole and leaves no temporary file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netpol-report-'));
    const junit = join(dir, 'junit.xml');
    writeFileSync(junit, 'old');
    const r = netpol(['check', '--policies', POLICIES, '--flows', FLOWS, '--cluster', CLUSTER, '--junit', junit]);
    expect(r.code).toBe(0);
    expect(readFileSync(junit, 'utf8')).toMatch(/^<\?xml/);
    expect(readdirSync(dir)).toEqual(['junit.xml']);
  });
});

describe('writeReportFile', () => {
  it('refuses a directory and a missing parent, cleaning up after itself', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netpol-report-'));
    mkdirSync(join(dir, 'sub'));
    expect(() => writeReportFile(join(dir, 'sub'), 'x')).toThrow(/not a regular file/);
    expect(() => writeReportFile(join(dir, 'nope', 'r.xml'), 'x')).toThrow(/cannot write report: ENOENT/);
    expect(readdirSync(dir)).toEqual(['sub']);
  });

  it('writes a large text whole, under a fresh name each time', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netpol-report-'));
    const text = 'x'.repeat(5 << 20);
    writeReportFile(join(dir, 'a'), text);
    writeReportFile(join(dir, 'a'), text + 'y');
    expect(readFileSync(join(dir, 'a'), 'utf8')).toHaveLength((5 << 20) + 1);
    expect(existsSync(join(dir, 'a'))).toBe(true);
    expect(readdirSync(dir)).toEqual(['a']);
  });
});
