import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { renderSarif, sarifUri } from '../../src/cli/output/report/sarif.js';
import { allowedSeedFlow, cleanReport, deniedSeedFlow, seedReport } from './support/check-report.js';

const schema = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures-schema/sarif-2.1.0-rtm.5.json'), 'utf8'));
const ajv = new Ajv.default({ allErrors: true, strict: false, unicodeRegExp: false }) // the schema's language pattern is not valid in u-mode;
addFormats.default(ajv);
const validate = ajv.compile(schema);

function expectValid(log: object): void {
  // Through JSON, as a file on disk would be.
  const ok = validate(JSON.parse(JSON.stringify(log)));
  expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
  expect(ok).toBe(true);
}

interface Log {
  version: string;
  runs: { tool: { driver: { rules: { id: string }[] } }; results: Record<string, any>[] }[];
}

describe('renderSarif', () => {
  it('validates against the SARIF 2.1.0 schema (the schema rejects a broken log)', () => {
    expectValid(renderSarif(seedReport(), { toolVersion: '0.1.0' }));
    expectValid(renderSarif(cleanReport()));
    expect(validate({ version: '2.1.0', runs: [{ tool: {} }] })).toBe(false);
    expect(validate({ version: '2.0.0', runs: [] })).toBe(false);
    const broken = JSON.parse(JSON.stringify(renderSarif(seedReport()))) as Log;
    broken.runs[0]!.results[0]!.level = 'fatal';
    expect(validate(broken)).toBe(false);
  });

  it('reports each denied flow at its line of the recording, with the dropping policy', () => {
    const log = renderSarif(seedReport()) as Log;
    const results = log.runs[0]!.results;
    const flow = results.find((r) => r.ruleId === 'NP1001')!;
    expect(flow.level).toBe('error');
    expect(flow.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: 'fixtures/seed/flows.jsonl' },
      region: { startLine: 3 },
    });
    expect(flow.message.text).toContain('p/default/mypod:46781 → r/1.0.0.1:80 TCP [seed-3]');
    expect(flow.message.text).toContain('dropped by default/mypod');
    expect(flow.properties.id).toBe('seed-3');
    expect(log.runs[0]!.tool.driver.rules[flow.ruleIndex]!.id).toBe('NP1001');
    // Allowed flows are not results.
    expect(results.filter((r) => r.ruleId === 'NP1001')).toHaveLength(1);
  });

  it('reports drift at the policy file with one rule per kind', () => {
    const log = renderSarif(seedReport()) as Log;
    const drift = log.runs[0]!.results.filter((r) => r.ruleId !== 'NP1001');
    expect(drift.map((r) => r.ruleId)).toEqual(['NP2003', 'NP2001']);
    expect(drift[0]!.locations[0].physicalLocation.artifactLocation.uri).toBe('policies/default/mypod.yaml');
    expect(drift[0]!.properties.detail).toContain('+++ generated');
  });

  it('fingerprints ignore the ephemeral source port', () => {
    const a = renderSarif(seedReport({ flows: [deniedSeedFlow()] })) as Log;
    const b = renderSarif(seedReport({ flows: [deniedSeedFlow({ src: 'p/default/mypod:51000', origin: { file: 'x.jsonl', line: 9 } })] })) as Log;
    expect(a.runs[0]!.results[0]!.partialFingerprints).toEqual(b.runs[0]!.results[0]!.partialFingerprints);
    const c = renderSarif(seedReport({ flows: [deniedSeedFlow({ dst: 'r/1.0.0.1:443' })] })) as Log;
    expect(c.runs[0]!.results[0]!.partialFingerprints).not.toEqual(a.runs[0]!.results[0]!.partialFingerprints);
  });

  it('makes absolute paths relative to baseDir and encodes odd characters', () => {
    const report = seedReport({ flows: [deniedSeedFlow({ origin: { file: '/repo/rec dir/flows#1.jsonl', line: 7 } })], drift: [] });
    const log = renderSarif(report, { baseDir: '/repo' }) as Log;
    expect(log.runs[0]!.results[0]!.locations[0].physicalLocation.artifactLocation.uri).toBe('rec%20dir/flows%231.jsonl');
    expectValid(log);
    expect(sarifUri('/elsewhere/a b.jsonl')).toBe('file:///elsewhere/a%20b.jsonl');
  });

  it('is deterministic and valid for a flow without origin or id', () => {
    const report = seedReport({ flows: [deniedSeedFlow({ origin: undefined, id: undefined }), allowedSeedFlow()] });
    expect(JSON.stringify(renderSarif(report))).toBe(JSON.stringify(renderSarif(report)));
    expectValid(renderSarif(report));
  });
});
