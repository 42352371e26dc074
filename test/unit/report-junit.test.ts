import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateXML } from 'xmllint-wasm';
import { describe, expect, it } from 'vitest';
import { renderJUnit, xmlEscape } from '../../src/cli/output/report/junit.js';
import { cleanReport, deniedSeedFlow, seedReport } from './support/check-report.js';

const xsd = readFileSync(join(import.meta.dirname, '../fixtures-schema/junit.xsd'), 'utf8');

async function validate(xml: string): Promise<string[]> {
  const result = await validateXML({
    xml: [{ fileName: 'report.xml', contents: xml }],
    schema: [{ fileName: 'junit.xsd', contents: xsd }],
  });
  return result.errors.map((e) => e.rawMessage);
}

describe('renderJUnit', () => {
  it('validates against the JUnit XSD (and the XSD rejects a broken report)', async () => {
    expect(await validate(renderJUnit(seedReport(), { toolVersion: '0.1.0' }))).toEqual([]);
    expect(await validate(renderJUnit(cleanReport()))).toEqual([]);
    expect((await validate('<testsuites><testsuite name="x"/></testsuites>')).length).toBeGreaterThan(0);
    expect((await validate('<testsuites><testcase/>')).length).toBeGreaterThan(0);
  });

  it('has one failing case per denied flow and per drifted file, with counts that add up', () => {
    const xml = renderJUnit(seedReport());
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="netpol check" tests="4" failures="3"/);
    expect(xml).toContain('<testsuite name="flows" tests="2" failures="1"');
    expect(xml).toContain('<testsuite name="drift" tests="2" failures="2"');
    expect(xml).toContain('<testcase name="p/default/mypod:46781 -&gt; r/1.0.0.1:80 TCP [seed-3]" classname="netpol.flows.default"');
    expect(xml).toMatch(/<failure message="egress of default\/mypod is isolated [^"]*\(dropped by default\/mypod\)" type="denied">at fixtures\/seed\/flows.jsonl:3\negress: denied/);
    expect(xml).toContain('<testcase name="policies/default/mypod.yaml" classname="netpol.drift"');
    expect(xml).toContain('type="changed">--- committed');
    expect(xml).toContain('<property name="cluster" value="snapshot fixtures/seed/cluster.yaml"/>');
  });

  it('shows "no drift" as a passing case and no failures when clean', () => {
    const xml = renderJUnit(cleanReport());
    expect(xml).toContain('<testsuites name="netpol check" tests="2" failures="0"');
    expect(xml).toContain('<testcase name="policies match what learn generates" classname="netpol.drift" time="0"/>');
    expect(xml).not.toContain('<failure');
  });

  it('escapes markup and control characters so the file stays well-formed', async () => {
    const evil = seedReport({ flows: [deniedSeedFlow({ id: 'a"<b>&\'c\u0001', reason: 'x]]>y\n<z>' })], drift: [] });
    const xml = renderJUnit(evil);
    expect(await validate(xml)).toEqual([]);
    expect(xml).toContain('[a&quot;&lt;b&gt;&amp;&apos;c\\x01]');
    expect(xml).toContain('x]]&gt;y&#10;&lt;z&gt;');
    expect(xmlEscape('a&b')).toBe('a&amp;b');
  });
});
