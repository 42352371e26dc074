/**
 * Output as data (Inspektor Gadget's idea): the columns of a row type are declared once — name,
 * header, width, alignment, text, JSON value — and every way netpol prints rows is a view of that
 * one declaration: the fixed-width table (table.ts: `trace`, the learn screen), the aligned text and
 * Markdown tables (table.ts: `diff`/`check`, reports), the JSON object (json.ts) and the
 * `-o columns=a,b` selection (selectColumns here). The declarations live with what they describe:
 * trace rows in ../trace-columns.ts, audited flows in ../report/columns.ts, learn rows in
 * ../../views/learn-columns.ts.
 */

/**
 * One column of rows of type R. `X` is what every cell of a view shares besides its row (the learn
 * screen's clock, for "4s ago"); most row types need nothing.
 */
export interface Column<R, X = void> {
  /** What `-o columns=` names it by. */
  name: string;
  /** Header text; the name when omitted. */
  header?: string;
  /** Width in fixed-width tables (the last column of a row is never padded). */
  width?: number;
  align?: 'left' | 'right';
  /** Shown in the default layout (otherwise only on request, and always in JSON). */
  visible?: boolean;
  text(row: R, context: X): string;
  /**
   * Dotted path in the JSON object and its value; omit for table-only columns. `text`, when given,
   * is the value's JSON text written directly (what JSON.stringify writes for `value`, byte for
   * byte), for an object value built per row only to be serialized: `-o json` then skips building
   * and walking it (test/unit/json-text.test.ts checks the two agree).
   */
  json?: { path: string; value(row: R): unknown; text?(row: R): string };
  /**
   * The cell when rows are grouped (see report/columns.ts groupedTextTable), when it differs from
   * text: e.g. the source without its ephemeral port, so a client's many connects make one row.
   */
  groupText?(row: R): string;
}

/** Which columns a table shows, in order, and width overrides for this table. */
export interface Layout {
  columns: string[];
  widths?: Record<string, number>;
}

export function headerOf(column: Column<never, never>): string {
  return column.header ?? column.name;
}

export interface SelectOptions {
  /** Match names case-insensitively (trace's `-o columns=`, as ig does). */
  ignoreCase?: boolean;
  /** The error text for a name no column has; default `unknown column "x" (known: a, b)`. */
  unknown?: (name: string, known: string[]) => string;
}

/** Picks columns by name, in the order given; an unknown name is an error listing the known ones. */
export function selectColumns<C extends { name: string }>(columns: readonly C[], names: readonly string[], options: SelectOptions = {}): C[] {
  const key = options.ignoreCase ? (n: string) => n.toLowerCase() : (n: string) => n;
  const byName = new Map(columns.map((c) => [key(c.name), c]));
  return names.map((n) => {
    const c = byName.get(key(n));
    if (c) return c;
    const known = [...byName.keys()];
    throw new Error(options.unknown ? options.unknown(n, known) : `unknown column "${n}" (known: ${known.join(', ')})`);
  });
}

/** The columns of a layout with their widths (the layout's overrides first). */
export function layoutColumns<R, X>(layout: Layout, columns: readonly Column<R, X>[]): Array<{ column: Column<R, X>; width: number }> {
  return layout.columns.map((name) => {
    const column = columns.find((c) => c.name === name);
    if (!column) throw new Error(`unknown column ${name}`);
    return { column, width: layout.widths?.[name] ?? column.width ?? 0 };
  });
}

/** The default layout of a column list: the visible columns, in declaration order. */
export function visibleLayout(columns: readonly Column<never, never>[]): Layout {
  return { columns: columns.filter((c) => c.visible !== false).map((c) => c.name) };
}
