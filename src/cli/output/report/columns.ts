/**
 * Output as data: the columns of an audited flow are declared once (name, header, alignment,
 * formatter); the Markdown table, plain text table and `-o columns=a,b` selections are views of it.
 */
import type { FlowAudit } from '../../../policy/audit.js';
import { droppedBy } from './common.js';
import { markdownCell, printable } from '../escape.js';

export interface Column<T> {
  /** Key for `-o columns=a,b`. */
  name: string;
  header: string;
  align: 'left' | 'right';
  value(row: T): string;
  /**
   * The cell when rows are grouped into connections (groupedTextTable), when it differs from
   * value: the source without its ephemeral port, so a client's many connects make one row.
   */
  groupValue?(row: T): string;
}

/** `p/default/mypod:46779` → `p/default/mypod`; `r/[fe80::1]:5000` → `r/[fe80::1]` (IPv6 is always bracketed). */
export function withoutPort(endpoint: string): string {
  return endpoint.replace(/:\d+$/, '');
}

export const FLOW_AUDIT_COLUMNS: readonly Column<FlowAudit>[] = [
  { name: 'verdict', header: 'VERDICT', align: 'left', value: (f) => f.verdict },
  { name: 'src', header: 'SRC', align: 'left', value: (f) => f.src, groupValue: (f) => withoutPort(f.src) },
  { name: 'dst', header: 'DST', align: 'left', value: (f) => f.dst },
  { name: 'proto', header: 'PROTO', align: 'left', value: (f) => f.proto },
  { name: 'count', header: 'COUNT', align: 'right', value: (f) => String(f.count) },
  { name: 'dropped-by', header: 'DROPPED BY', align: 'left', value: (f) => droppedBy(f).join(', ') },
  { name: 'reason', header: 'REASON', align: 'left', value: (f) => f.reason },
  { name: 'where', header: 'WHERE', align: 'left', value: (f) => (f.origin ? `${f.origin.file}:${f.origin.line}` : '') },
  { name: 'id', header: 'ID', align: 'left', value: (f) => f.id ?? '' },
];

/** Picks columns by name, in the order given; unknown names are an error listing the known ones. */
export function selectColumns<T>(spec: readonly Column<T>[], names: readonly string[]): Column<T>[] {
  return names.map((n) => {
    const c = spec.find((col) => col.name === n);
    if (!c) throw new Error(`unknown column "${n}" (known: ${spec.map((col) => col.name).join(', ')})`);
    return c;
  });
}

// The escaping lives with every other escaping of output (../escape.ts); re-exported for callers.
export { markdownCell };

export function markdownTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const head = `| ${columns.map((c) => markdownCell(c.header)).join(' | ')} |`;
  const rule = `|${columns.map((c) => (c.align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`;
  const body = rows.map((r) => `| ${columns.map((c) => markdownCell(c.value(r))).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}

/** Plain aligned text table, kubectl style (two spaces between columns, no trailing blanks). */
export function textTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  // Cells hold input (names, ids, reasons): control characters shown as escapes, never raw.
  const cells = [columns.map((c) => c.header), ...rows.map((r) => columns.map((c) => printable(c.value(r))))];
  // A loop, not Math.max(...cells): spreading 200,000 rows as arguments overflows the call stack.
  const widths = columns.map(() => 0);
  for (const row of cells) row.forEach((cell, i) => (widths[i] = Math.max(widths[i]!, cell.length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (columns[i]!.align === 'right' ? cell.padStart(widths[i]!) : i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The default columns of the `diff` and `check` tables. */
export const DEFAULT_AUDIT_COLUMNS = ['verdict', 'src', 'dst', 'proto', 'count', 'reason'];

/**
 * The `diff`/`check` table: flows whose shown cells are all equal (the source without its ephemeral
 * port, see Column.groupValue) make one row, COUNT says how many flows it stands for. Rows keep the
 * order of each group's first flow (denied first, then input order), so the table is deterministic.
 * Columns that differ per flow (`where`, `id`) leave every flow its own row. JSON is not grouped.
 */
export function groupedTextTable(rows: readonly FlowAudit[], columns: readonly Column<FlowAudit>[]): string {
  const shown = columns.filter((c) => c.name !== 'count');
  const groups = new Map<string, { cells: string[]; count: number }>();
  for (const r of rows) {
    const cells = shown.map((c) => (c.groupValue ?? c.value)(r));
    const key = cells.join('\0');
    const g = groups.get(key);
    if (g) g.count += r.count;
    else groups.set(key, { cells, count: r.count });
  }
  const grouped = [...groups.values()];
  const views: Column<{ cells: string[]; count: number }>[] = columns.map((c) => {
    if (c.name === 'count') return { ...c, value: (g) => String(g.count), groupValue: undefined };
    const i = shown.indexOf(c);
    return { name: c.name, header: c.header, align: c.align, value: (g) => g.cells[i]! };
  });
  return textTable(grouped, views);
}
