// kubectl's conventions: suggestions for unknown flags, help as invoked, plain defaults, version.
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, netpol } from '../support/cli.js';

const pluginBin = join(mkdtempSync(join(tmpdir(), 'netpol-plugin-')), 'kubectl-netpol');
beforeAll(() => {
  ensureBuilt();
  symlinkSync(CLI, pluginBin);
}, 300_000);

describe('usage errors', () => {
  it('suggest the flag meant, even when a required option is missing too (exit 2)', () => {
    const r = netpol(['diff', '--polices', 'policies/']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown option '--polices'\n(Did you mean --policies?)");
  });
  it('still report a missing required option', () => {
    const r = netpol(['diff', '--policies', 'policies/']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: required option '--flows <file...>' not specified");
  });
  it('refuse a flag that would be ignored: learn --connect-errors without --local (exit 2)', () => {
    const r = netpol(['learn', '-l', 'run=mypod', '--connect-errors']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--connect-errors');
    expect(r.stderr).toContain('needs --local');
  });
  it('name the command as invoked: kubectl netpol when run as the plugin', () => {
    expect(netpol(['check', '--polices', 'x']).stderr).toContain("See 'netpol check --help' for usage.");
    const r = netpol(['check', '--polices', 'x'], { bin: pluginBin });
    expect(r.stderr).toContain("See 'kubectl netpol check --help' for usage.");
    expect(netpol(['dif'], { bin: pluginBin }).stderr).toContain("(Did you mean diff?)\nSee 'kubectl netpol --help' for usage.");
  });
});

describe('help', () => {
  it('shows defaults plainly, (default: table)', () => {
    const help = netpol(['diff', '--help']).stdout;
    expect(help.replace(/\s+/g, ' ')).toContain('(default: table)');
    expect(netpol(['check', '--help']).stdout).toContain('default: text)');
  });
  it('shows the examples as the plugin when run as kubectl-netpol', () => {
    const help = netpol(['learn', '--help'], { bin: pluginBin }).stdout;
    expect(help).toContain('  kubectl netpol learn --flows fixtures/demo/flows.jsonl');
    expect(help).toContain('  sudo kubectl netpol learn --local');
    expect(help).not.toMatch(/^\s+netpol /m);
  });
});

describe('version', () => {
  it('prints the client version, and JSON with -o json', () => {
    expect(netpol(['version']).stdout).toMatch(/^Client Version: v\d+\.\d+\.\d+\n$/);
    const json = JSON.parse(netpol(['version', '-o', 'json']).stdout) as { clientVersion: { version: string; platform: string } };
    expect(json.clientVersion.version).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(json.clientVersion.platform).toMatch(/^linux\//);
  });
});
