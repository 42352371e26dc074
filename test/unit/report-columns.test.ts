// The diff/check table: no stack overflow on large recordings, and rows grouped into connections.
import { describe, expect, it } from 'vitest';
import { auditTable } from '../../src/cli/shared/audit-output.js';
import { FLOW_AUDIT_COLUMNS, groupedTextTable, withoutPort } from '../../src/cli/output/report/columns.js';
import { selectColumns } from '../../src/cli/output/columns/model.js';
import { textTable } from '../../src/cli/output/columns/table.js';
import { allowedSeedFlow, deniedSeedFlow } from './support/check-report.js';

describe('the audit table', () => {
  it('lays out 200,000 rows (Math.max over a spread overflowed the stack past ~120,000)', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => deniedSeedFlow({ src: `p/default/mypod:${i}`, id: `f${i}`, count: 1 }));
    const cols = selectColumns(FLOW_AUDIT_COLUMNS, ['verdict', 'src', 'id']);
    const text = textTable(rows, cols);
    expect(text.split('\n')).toHaveLength(200_001);
    expect(text.split('\n')[200_000]).toBe('denied   p/default/mypod:199999  f199999');
    // Grouped, the same 200,000 flows are one connection.
    expect(auditTable(rows).split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('groups flows of one connection into a row with their COUNT, first-seen order, source port folded', () => {
    const rows = [
      deniedSeedFlow({ src: 'p/default/mypod:1000', count: 1 }),
      allowedSeedFlow({ src: 'p/default/mypod:1001', count: 1 }),
      deniedSeedFlow({ src: 'p/default/mypod:1002', count: 1 }),
      deniedSeedFlow({ src: 'p/default/mypod:1003', count: 2 }),
      allowedSeedFlow({ src: 'p/default/mypod:1004', count: 1 }),
    ];
    const cols = selectColumns(FLOW_AUDIT_COLUMNS, ['verdict', 'src', 'dst', 'count']);
    expect(groupedTextTable(rows, cols)).toBe(
      ['VERDICT  SRC              DST           COUNT', 'denied   p/default/mypod  r/1.0.0.1:80      4', 'allowed  p/default/mypod  r/1.1.1.1:80      2'].join('\n'),
    );
    // A per-flow column (where, id) keeps every flow its own row.
    const withIds = rows.map((r, i) => ({ ...r, id: `f${i}` }));
    const perFlow = groupedTextTable(withIds, selectColumns(FLOW_AUDIT_COLUMNS, ['src', 'count', 'id']));
    expect(perFlow.split('\n')).toHaveLength(rows.length + 1);
  });

  it('has COUNT among the default columns', () => {
    expect(auditTable([deniedSeedFlow()]).split('\n')[0]).toMatch(/^VERDICT +SRC +DST +PROTO +COUNT +REASON$/);
  });

  it('folds only a port: IPv6 stays whole', () => {
    expect(withoutPort('r/[2001:db8::1]:443')).toBe('r/[2001:db8::1]');
    expect(withoutPort('r/[2001:db8::1]')).toBe('r/[2001:db8::1]');
    expect(withoutPort('s/ns/svc:80')).toBe('s/ns/svc');
  });
});
