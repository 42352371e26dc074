/**
 * The columns of a learn row, declared once in the column model (../output/columns/model.ts): the
 * ink screen, the plain lines (pipes, CI) and `-o json` are views of this declaration, so they
 * always say the same thing. The screen's clock (`now`, for "4s ago") is the views' shared context.
 */
import type { Column } from '../output/columns/model.js';
import { compileJson } from '../output/columns/json.js';
import { TableFormatter } from '../output/columns/table.js';
import type { LearnRow } from './learn-model.js';

export type LearnColumn = Column<LearnRow, number>;

/** `now`, `4s ago`, `3m ago`, `2h ago`. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 1) return 'now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export const LEARN_COLUMNS: readonly LearnColumn[] = [
  { name: 'workload', header: 'WORKLOAD', width: 24, align: 'left', text: (r) => r.workload, json: { path: 'workload', value: (r) => r.workload } },
  { name: 'kind', header: 'KIND', width: 10, align: 'left', text: (r) => r.kind, json: { path: 'kind', value: (r) => r.kind } },
  { name: 'peer', header: 'PEER', width: 30, align: 'left', text: (r) => r.peer, json: { path: 'peer', value: (r) => r.peer } },
  { name: 'ports', header: 'PORTS', width: 10, align: 'left', text: (r) => r.ports, json: { path: 'ports', value: (r) => r.ports } },
  { name: 'count', header: 'COUNT', width: 6, align: 'right', text: (r) => String(r.count), json: { path: 'count', value: (r) => r.count } },
  { name: 'last', header: 'LAST SEEN', width: 10, align: 'left', text: (r, now) => ago(now - r.lastSeen), json: { path: 'lastSeen', value: (r) => new Date(r.lastSeen).toISOString() } },
];

/** Plain lines print a row when it is first seen: its time of day instead of a count and an age. */
export const PLAIN_COLUMNS: readonly LearnColumn[] = [
  ...LEARN_COLUMNS.filter((c) => c.name !== 'count' && c.name !== 'last'),
  {
    name: 'seen',
    header: 'FIRST SEEN',
    width: 10,
    align: 'left',
    text: (r) => new Date(r.lastSeen).toISOString().slice(11, 19),
    json: { path: 'firstSeen', value: (r) => new Date(r.lastSeen).toISOString() },
  },
];

interface LearnViews {
  table: TableFormatter<LearnRow, number>;
  /** A continuation row: the workload cells left empty under the row that names the workload. */
  continuation: TableFormatter<LearnRow, number>;
  json: (row: LearnRow) => Record<string, unknown>;
}

const views = new WeakMap<readonly LearnColumn[], LearnViews>();

/** The views of a column list, built once per list (the screen redraws every 200 ms). */
function viewsOf(columns: readonly LearnColumn[]): LearnViews {
  let v = views.get(columns);
  if (!v) {
    const layout = { columns: columns.map((c) => c.name) };
    const blank = columns.map((c): LearnColumn => (c.name === 'workload' || c.name === 'kind' ? { ...c, text: () => '' } : c));
    v = {
      table: new TableFormatter(layout, columns, { truncate: true }),
      continuation: new TableFormatter(layout, blank, { truncate: true }),
      json: compileJson(columns),
    };
    views.set(columns, v);
  }
  return v;
}

/** One line of the table; `blankWorkload` leaves the workload cells empty (continuation rows). */
export function rowLine(row: LearnRow, now: number, blankWorkload = false, columns: readonly LearnColumn[] = LEARN_COLUMNS): string {
  const v = viewsOf(columns);
  return (blankWorkload ? v.continuation : v.table).row(row, now);
}

export function headerLine(columns: readonly LearnColumn[] = LEARN_COLUMNS): string {
  return viewsOf(columns).table.header();
}

export function rowJson(row: LearnRow, columns: readonly LearnColumn[] = LEARN_COLUMNS): Record<string, unknown> {
  return viewsOf(columns).json(row);
}
