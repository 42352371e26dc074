import { describe, expect, it } from 'vitest';
import { FLOW_AUDIT_COLUMNS } from '../../src/cli/output/report/columns.js';
import { selectColumns } from '../../src/cli/output/columns/model.js';
import { markdownTable, textTable } from '../../src/cli/output/columns/table.js';
import { renderMarkdownSummary } from '../../src/cli/output/report/markdown.js';
import { allowedSeedFlow, cleanReport, deniedSeedFlow, seedReport } from './support/check-report.js';

describe('renderMarkdownSummary', () => {
  it('leads with the verdict and counts, then denied flows and drift', () => {
    const md = renderMarkdownSummary(seedReport());
    const lines = md.split('\n');
    expect(lines[0]).toBe('## netpol check: ❌ failed');
    expect(md).toContain('1 observed flow would be denied; 2 policy files drifted from what `netpol learn` generates.');
    expect(md).toContain('| 2 | 1 | 1 | 2 |');
    expect(md).toContain('### Denied flows');
    expect(md).toContain('| SRC | DST | PROTO | COUNT | DROPPED BY | REASON | WHERE |');
    expect(md).toContain('| p/default/mypod:46781 | r/1.0.0.1:80 | TCP | 1 | default/mypod | egress of default/mypod is isolated by default/mypod and no rule allows r/1.0.0.1:80 | fixtures/seed/flows.jsonl:3 |');
    expect(md).not.toContain('r/1.1.1.1:80 |'); // allowed flows are not listed
    expect(md).toContain('### Policy drift');
    expect(md).toContain('<details><summary><code>policies/default/mypod.yaml</code>: committed file differs from what learn generates</summary>');
    expect(md).toMatch(/```diff\n--- committed\n\+\+\+ generated\n/);
    expect(md.endsWith('\n')).toBe(true);
  });

  it('draws the denied connections as a Mermaid flowchart, source ports folded', () => {
    const md = renderMarkdownSummary(seedReport({ flows: [deniedSeedFlow(), deniedSeedFlow({ src: 'p/default/mypod:51000', id: 'x' }), allowedSeedFlow()] }));
    expect(md).toContain(
      ['```mermaid', 'flowchart LR', '  n0["p/default/mypod"] -->|"TCP ×2 denied"| n1["r/1.0.0.1:80"]', '  linkStyle 0 stroke:#c62828,stroke-width:2px,color:#c62828', '```'].join('\n'),
    );
    expect(renderMarkdownSummary(cleanReport())).not.toContain('```mermaid');
  });

  it('says passed when nothing is denied or drifted', () => {
    const md = renderMarkdownSummary(cleanReport());
    expect(md.split('\n')[0]).toBe('## netpol check: ✅ passed');
    expect(md).not.toContain('### Denied flows');
    expect(md).not.toContain('### Policy drift');
  });

  it('keeps tables intact when cells hold pipes and newlines, and caps long lists', () => {
    const flows = Array.from({ length: 5 }, (_, i) => deniedSeedFlow({ id: `f${i}`, reason: 'a|b\nc' }));
    const md = renderMarkdownSummary(seedReport({ flows: [...flows, allowedSeedFlow()], drift: [] }), { maxRows: 3 });
    expect(md).toContain('a\\|b<br>c');
    expect(md).toContain('… and 2 more denied flows');
    const tableRows = md.split('\n').filter((l) => l.startsWith('| p/default'));
    expect(tableRows).toHaveLength(3);
  });

  it('fences a diff that itself contains backticks', () => {
    const md = renderMarkdownSummary(seedReport({ drift: [{ path: 'a.yaml', kind: 'changed', detail: '-```\n+x' }] }));
    expect(md).toContain('````diff\n-```\n+x\n````');
  });
});

describe('flow audit columns', () => {
  it('one spec gives the markdown and the text table', () => {
    const cols = selectColumns(FLOW_AUDIT_COLUMNS, ['verdict', 'src', 'dst', 'count']);
    const rows = [deniedSeedFlow(), allowedSeedFlow()];
    expect(textTable(rows, cols)).toBe(
      ['VERDICT  SRC                    DST           COUNT', 'denied   p/default/mypod:46781  r/1.0.0.1:80      1', 'allowed  p/default/mypod:46779  r/1.1.1.1:80      2'].join('\n'),
    );
    expect(markdownTable(rows, cols).split('\n')[1]).toBe('| --- | --- | --- | ---: |');
    expect(() => selectColumns(FLOW_AUDIT_COLUMNS, ['nope'])).toThrow(/unknown column "nope" \(known: verdict, src/);
  });
});
