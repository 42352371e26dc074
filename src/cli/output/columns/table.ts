/**
 * The table views of a column declaration (./model.ts). Every cell holds input (container, process,
 * workload and peer names, reasons): control characters are shown as escapes, never raw.
 *
 *   TableFormatter  fixed widths from the declaration or the layout, one space between columns, for
 *                   output that streams (trace prints a row per event; the learn screen redraws)
 *   textTable       widths from the content, two spaces between columns (kubectl style), for a
 *                   table printed whole (`diff`, `check`)
 *   markdownTable   the same rows as a Markdown table (reports)
 */
import { hasControl, markdownCell, printable } from '../escape.js';
import { headerOf, layoutColumns, type Column, type Layout } from './model.js';

export interface FixedTableOptions {
  /** Cut a cell longer than its width, ending it with `…` (the learn screen); default: let it run over. */
  truncate?: boolean;
}

/**
 * One line of a fixed-width table: a right-aligned cell is padded at the start, a left-aligned one
 * at the end except in the last column; no trailing blanks. Control characters are escaped: most
 * lines hold none, so the line is laid out as it is and tested once (one test per line, not one per
 * cell); a line that holds one is laid out again from escaped cells (an escape is wider than its
 * character, so the padding moves).
 */
function fixedLine(cells: readonly string[], widths: readonly number[], right: readonly boolean[], truncate: boolean): string {
  const line = layoutLine(cells, widths, right, truncate) ?? layoutLine(cells.map(printable), widths, right, truncate)!;
  return line.trimEnd();
}

/**
 * The cells laid out, not yet trimmed (a trailing tab or newline is still there to be found), or
 * undefined when the line holds a control character. A cut that drops every control character of a
 * cell keeps what the cut of its escaped text keeps: the two are the same up to the first one.
 */
function layoutLine(cells: readonly string[], widths: readonly number[], right: readonly boolean[], truncate: boolean): string | undefined {
  const last = cells.length - 1;
  const padded: string[] = new Array(cells.length);
  for (let i = 0; i <= last; i++) {
    let text = cells[i]!;
    const width = widths[i]!;
    if (truncate && i < last && text.length > width) text = `${text.slice(0, Math.max(0, width - 1))}…`;
    padded[i] = right[i] ? text.padStart(width) : i === last ? text : text.padEnd(width);
  }
  // join makes one flat string; `+=` would leave a rope for the test below to flatten first.
  const out = padded.join(' ');
  return hasControl(out) ? undefined : out;
}

/** A fixed-width table of a layout: header() once, then row() per row. */
export class TableFormatter<R, X = void> {
  private readonly cols: ReadonlyArray<Column<R, X>>;
  private readonly widths: number[];
  private readonly right: boolean[];
  private readonly truncate: boolean;
  constructor(layout: Layout, columns: readonly Column<R, X>[], options: FixedTableOptions = {}) {
    const resolved = layoutColumns(layout, columns);
    this.cols = resolved.map((c) => c.column);
    this.widths = resolved.map((c) => c.width);
    this.right = resolved.map((c) => c.column.align === 'right');
    this.truncate = options.truncate ?? false;
  }
  header(): string {
    return fixedLine(this.cols.map(headerOf), this.widths, this.right, this.truncate);
  }
  row(r: R, context: X): string {
    return fixedLine(this.cols.map((c) => c.text(r, context)), this.widths, this.right, this.truncate);
  }
}

/** Plain aligned text table, kubectl style (two spaces between columns, no trailing blanks). */
export function textTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = [columns.map(headerOf), ...rows.map((r) => columns.map((c) => printable(c.text(r))))];
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

/** A Markdown table: cells escaped for Markdown (pipes, HTML, line breaks), right-aligned columns marked. */
export function markdownTable<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const head = `| ${columns.map((c) => markdownCell(headerOf(c))).join(' | ')} |`;
  const rule = `|${columns.map((c) => (c.align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`;
  const body = rows.map((r) => `| ${columns.map((c) => markdownCell(c.text(r))).join(' | ')} |`);
  return [head, rule, ...body].join('\n');
}
