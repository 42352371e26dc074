/**
 * The columns of an audited flow, declared once in the column model (../columns/model.ts): the
 * `diff`/`check` table, the Markdown report's tables and `-o columns=a,b` are views of it.
 */
import type { FlowAudit } from '../../../policy/audit.js';
import type { Column } from '../columns/model.js';
import { textTable } from '../columns/table.js';
import { droppedBy } from './common.js';

/** `p/default/mypod:46779` → `p/default/mypod`; `r/[fe80::1]:5000` → `r/[fe80::1]` (IPv6 is always bracketed). */
export function withoutPort(endpoint: string): string {
  return endpoint.replace(/:\d+$/, '');
}

export const FLOW_AUDIT_COLUMNS: readonly Column<FlowAudit>[] = [
  { name: 'verdict', header: 'VERDICT', align: 'left', text: (f) => f.verdict },
  { name: 'src', header: 'SRC', align: 'left', text: (f) => f.src, groupText: (f) => withoutPort(f.src) },
  { name: 'dst', header: 'DST', align: 'left', text: (f) => f.dst },
  { name: 'proto', header: 'PROTO', align: 'left', text: (f) => f.proto },
  { name: 'count', header: 'COUNT', align: 'right', text: (f) => String(f.count) },
  { name: 'dropped-by', header: 'DROPPED BY', align: 'left', text: (f) => droppedBy(f).join(', ') },
  { name: 'reason', header: 'REASON', align: 'left', text: (f) => f.reason },
  { name: 'where', header: 'WHERE', align: 'left', text: (f) => (f.origin ? `${f.origin.file}:${f.origin.line}` : '') },
  { name: 'id', header: 'ID', align: 'left', text: (f) => f.id ?? '' },
];

/** The default columns of the `diff` and `check` tables. */
export const DEFAULT_AUDIT_COLUMNS = ['verdict', 'src', 'dst', 'proto', 'count', 'reason'];

/**
 * The `diff`/`check` table: flows whose shown cells are all equal (the source without its ephemeral
 * port, see Column.groupText) make one row, COUNT says how many flows it stands for. Rows keep the
 * order of each group's first flow (denied first, then input order), so the table is deterministic.
 * Columns that differ per flow (`where`, `id`) leave every flow its own row. JSON is not grouped.
 */
export function groupedTextTable(rows: readonly FlowAudit[], columns: readonly Column<FlowAudit>[]): string {
  const shown = columns.filter((c) => c.name !== 'count');
  const groups = new Map<string, { cells: string[]; count: number }>();
  for (const r of rows) {
    const cells = shown.map((c) => (c.groupText ?? c.text)(r));
    const key = cells.join('\0');
    const g = groups.get(key);
    if (g) g.count += r.count;
    else groups.set(key, { cells, count: r.count });
  }
  const grouped = [...groups.values()];
  const views: Column<{ cells: string[]; count: number }>[] = columns.map((c) => {
    if (c.name === 'count') return { name: c.name, header: c.header, align: c.align, text: (g) => String(g.count) };
    const i = shown.indexOf(c);
    return { name: c.name, header: c.header, align: c.align, text: (g) => g.cells[i]! };
  });
  return textTable(grouped, views);
}
