// One duration syntax for every option that takes a time.
import { describe, expect, it } from 'vitest';
import { parseDuration, parseDurationSeconds } from '../../src/cli/shared/duration.js';
import { buildProgram } from '../../src/cli/program.js';
import type { Command } from 'commander';

describe('parseDuration', () => {
  it('takes units, combinations and plain seconds', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('10')).toBe(10_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('3d')).toBe(3 * 86_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDurationSeconds('2m')).toBe(120);
  });
  it('refuses what is not a positive duration, saying the syntax', () => {
    for (const bad of ['', '0', '0s', '-5s', '10x', 's', '1h30', 'ten']) expect(() => parseDuration(bad), bad).toThrow(/duration: ".*" \(e\.g\. 30s/);
  });
});

describe('every duration option', () => {
  it('parses through the one parser: `--timeout 10s` and `--duration 10` alike', async () => {
    const found: string[] = [];
    const walk = (c: Command, path: string) => {
      for (const o of c.options) {
        if (!/--(timeout|duration|since|interval)\b/.test(o.flags)) continue;
        found.push(`${path} ${o.long}`);
        expect(o.flags, `${path} ${o.long}`).toMatch(/<duration>/);
        expect(o.parseArg?.('10s', undefined), `${path} ${o.long}`).toBeOneOf([10, 10_000]);
        expect(o.parseArg?.('10s', undefined), `${path} ${o.long}`).toBe(o.parseArg?.('10', undefined));
      }
      c.commands.forEach((s) => walk(s, `${path} ${s.name()}`));
    };
    walk(buildProgram(), 'netpol');
    expect(found).toEqual(expect.arrayContaining(['netpol trace tcpconnect --timeout', 'netpol learn --duration']));
  });
});
