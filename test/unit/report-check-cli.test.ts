/**
 * `netpol check` writing every CI report for the demo recording that drifted from the committed
 * policies: the SARIF file validates against the SARIF 2.1.0 schema, the JUnit file against the
 * JUnit XSD, the annotations are GitHub workflow commands and the Markdown summary says why.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { validateXML } from 'xmllint-wasm';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';

const repo = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'netpol-check-reports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(args: string[]): Promise<{ out: string; code: number }> {
  let out = '';
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => ((out += chunk), true)) as typeof process.stdout.write;
  process.exitCode = undefined;
  const cwd = process.cwd();
  process.chdir(repo);
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'netpol', 'check', ...args]);
  } finally {
    process.chdir(cwd);
    process.stdout.write = write;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { out, code };
}

describe('netpol check reports', () => {
  it('writes SARIF, JUnit and Markdown that validate, and GitHub annotations', async () => {
    const sarif = join(dir, 'netpol.sarif');
    const junit = join(dir, 'junit.xml');
    const markdown = join(dir, 'summary.md');
    const { out, code } = await check([
      '--policies', 'policies',
      '--flows', 'fixtures/demo/flows-later.jsonl',
      '--cluster', 'fixtures/demo/cluster.yaml',
      '--sarif', sarif, '--junit', junit, '--markdown', markdown, '--github',
    ]);
    expect(code).toBe(1);

    const schema = JSON.parse(readFileSync(join(repo, 'test/fixtures-schema/sarif-2.1.0-rtm.5.json'), 'utf8'));
    const ajv = new Ajv.default({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    const log = JSON.parse(readFileSync(sarif, 'utf8')) as { runs: { results: { ruleId: string; locations: { physicalLocation: { artifactLocation: { uri: string }; region?: { startLine: number } } }[] }[] }[] };
    expect(validate(log), JSON.stringify(validate.errors)).toBe(true);
    const denied = log.runs[0]!.results.filter((r) => r.ruleId === 'NP1001');
    expect(denied.length).toBeGreaterThan(0);
    for (const r of denied) {
      expect(r.locations[0]!.physicalLocation.artifactLocation.uri).toBe('fixtures/demo/flows-later.jsonl');
      expect(r.locations[0]!.physicalLocation.region!.startLine).toBeGreaterThan(0);
    }

    const xml = readFileSync(junit, 'utf8');
    const result = await validateXML({
      xml: [{ fileName: 'junit.xml', contents: xml }],
      schema: [{ fileName: 'junit.xsd', contents: readFileSync(join(repo, 'test/fixtures-schema/junit.xsd'), 'utf8') }],
    });
    expect(result.errors.map((e) => e.rawMessage)).toEqual([]);
    expect(xml).toMatch(/<testsuite name="flows" tests="\d+" failures="[1-9]\d*"/);

    const annotations = out.split('\n').filter((l) => l.startsWith('::'));
    expect(annotations.length).toBeGreaterThan(1);
    expect(annotations[0]).toMatch(/^::error file=fixtures\/demo\/flows-later\.jsonl,line=\d+,title=netpol%3A denied /);
    expect(annotations.at(-1)).toMatch(/^::notice title=netpol check failed::/);

    const md = readFileSync(markdown, 'utf8');
    expect(md.split('\n')[0]).toBe('## netpol check: ❌ failed');
    expect(md).toContain('### Denied flows');
  });
});
