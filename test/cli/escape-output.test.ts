// Input printed by every output: flow ids carrying a newline, a forged GitHub Actions command, ESC
// and C1 sequences and a bidi override must come out escaped — never as raw control characters,
// never as an extra line or workflow command — and structured reports must stay valid.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { escapeData, escapeProperty, markdownCell, printable, printableLines, xmlEscape } from '../../src/cli/output/escape.js';
import { ensureBuilt, netpol, ROOT } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-escape-'));
const EVIL = '\u001b[31mred\n::warning file=x.yaml::injected\u009b2J\u202e';
const FLOWS = join(dir, 'evil.jsonl');
const CLUSTER = join(ROOT, 'fixtures/demo/cluster.yaml');
const POLICIES = join(ROOT, 'policies');
// Raw control characters other than the line feed that ends each line.
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

beforeAll(() => {
  ensureBuilt();
  const lines = readFileSync(join(ROOT, 'fixtures/demo/flows-later.jsonl'), 'utf8').split('\n').filter(Boolean);
  writeFileSync(FLOWS, lines.map((l) => JSON.stringify({ ...JSON.parse(l), id: `f${EVIL}` })).join('\n') + '\n');
}, 300_000);

function expectClean(text: string): void {
  expect(text).not.toMatch(RAW_CONTROL);
  // No line but our own annotations starts a workflow command.
  for (const line of text.split('\n')) if (line.startsWith('::')) expect(line).toMatch(/^::(error|notice)[ :]/);
  expect(text).not.toMatch(/^::warning/m);
}

describe('printed input is escaped', () => {
  it('check --github, the console table and the report files', () => {
    const r = netpol(['check', '--policies', POLICIES, '--flows', FLOWS, '--cluster', CLUSTER, '--no-drift', '--github', '--junit', join(dir, 'j.xml'), '--sarif', join(dir, 's.sarif'), '--markdown', join(dir, 'm.md')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('::error ');
    expectClean(r.stdout);
    expectClean(r.stderr);
    const md = readFileSync(join(dir, 'm.md'), 'utf8');
    expectClean(md);
    expect(md).toContain('f\\x1b[31mred<br>::warning file=x.yaml::injected\\x9b2J\\u202e');
    const xml = readFileSync(join(dir, 'j.xml'), 'utf8');
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    expect(xml).toContain('f\\x1b[31mred');
    const sarif = JSON.parse(readFileSync(join(dir, 's.sarif'), 'utf8')) as object;
    expect(JSON.stringify(sarif)).toContain('injected');
  });

  it('diff tables and -o columns= with the id', () => {
    for (const output of ['table', 'columns=verdict,src,dst,id,where']) {
      const r = netpol(['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES, '-o', output, '--explain']);
      expect(r.code).toBe(1);
      expectClean(r.stdout);
    }
    const cols = netpol(['diff', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES, '-o', 'columns=id']);
    expect(cols.stdout.split('\n')[1]).toBe('f\\x1b[31mred\\n::warning file=x.yaml::injected\\x9b2J\\u202e');
  });

  it('explain --all', () => {
    const r = netpol(['explain', '--flows', FLOWS, '--cluster', CLUSTER, '--policies', POLICIES, '--all']);
    expect(r.stdout).toContain('flow f\\x1b[31mred');
    expectClean(r.stdout);
  });
});

describe('the escaping module', () => {
  it('shows control characters as escapes', () => {
    expect(printable('a\nb\tc\u001b[0m\u007f\u0085\u202e')).toBe('a\\nb\\tc\\x1b[0m\\x7f\\x85\\u202e');
    expect(printableLines('line 1\nline\u001b 2')).toBe('line 1\nline\\x1b 2');
  });
  it("keeps GitHub's workflow-command escaping and neutralizes the rest", () => {
    expect(escapeData('50% a\r\nb\u001b')).toBe('50%25 a%0D%0Ab\\x1b');
    expect(escapeProperty('a:b,c%\n')).toBe('a%3Ab%2Cc%25%0A');
  });
  it('keeps Markdown cells and XML well-formed', () => {
    expect(markdownCell('a|b\r\nc<d>\u001b')).toBe('a\\|b<br>c&lt;d&gt;\\x1b');
    expect(xmlEscape('<a b="c">&\u0001')).toBe('&lt;a b=&quot;c&quot;&gt;&amp;\\x01');
  });
});
