/**
 * The columns of a learn row, declared once: the ink screen, the plain lines (pipes, CI) and
 * `-o json` are views of this spec, so they always say the same thing.
 */
import type { LearnRow } from './learn-model.js';

export interface LearnColumn {
  name: string;
  header: string;
  width: number;
  align: 'left' | 'right';
  /** Text for the screen and plain lines; `now` for relative times. */
  text(row: LearnRow, now: number): string;
  /** JSON key and value. */
  json: [key: string, value: (row: LearnRow) => unknown];
}

/** `now`, `4s ago`, `3m ago`, `2h ago`. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 1) return 'now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

export const LEARN_COLUMNS: readonly LearnColumn[] = [
  { name: 'workload', header: 'WORKLOAD', width: 24, align: 'left', text: (r) => r.workload, json: ['workload', (r) => r.workload] },
  { name: 'kind', header: 'KIND', width: 10, align: 'left', text: (r) => r.kind, json: ['kind', (r) => r.kind] },
  { name: 'peer', header: 'PEER', width: 30, align: 'left', text: (r) => r.peer, json: ['peer', (r) => r.peer] },
  { name: 'ports', header: 'PORTS', width: 10, align: 'left', text: (r) => r.ports, json: ['ports', (r) => r.ports] },
  { name: 'count', header: 'COUNT', width: 6, align: 'right', text: (r) => String(r.count), json: ['count', (r) => r.count] },
  { name: 'last', header: 'LAST SEEN', width: 10, align: 'left', text: (r, now) => ago(now - r.lastSeen), json: ['lastSeen', (r) => new Date(r.lastSeen).toISOString()] },
];

/** Plain lines print a row when it is first seen: its time of day instead of a count and an age. */
export const PLAIN_COLUMNS: readonly LearnColumn[] = [
  ...LEARN_COLUMNS.filter((c) => c.name !== 'count' && c.name !== 'last'),
  { name: 'seen', header: 'FIRST SEEN', width: 10, align: 'left', text: (r) => new Date(r.lastSeen).toISOString().slice(11, 19), json: ['firstSeen', (r) => new Date(r.lastSeen).toISOString()] },
];

/** Fits text into a column: truncated with … when too long, padded to the width. */
export function fit(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  const t = text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
  return align === 'right' ? t.padStart(width) : t.padEnd(width);
}

/** One line of the table; `blankWorkload` leaves the workload cells empty (continuation rows). */
export function rowLine(row: LearnRow, now: number, blankWorkload = false, columns: readonly LearnColumn[] = LEARN_COLUMNS): string {
  return columns
    .map((c, i) => {
      const text = blankWorkload && (c.name === 'workload' || c.name === 'kind') ? '' : c.text(row, now);
      return i === columns.length - 1 ? text : fit(text, c.width, c.align);
    })
    .join(' ')
    .trimEnd();
}

export function headerLine(columns: readonly LearnColumn[] = LEARN_COLUMNS): string {
  return columns.map((c, i) => (i === columns.length - 1 ? c.header : fit(c.header, c.width, c.align))).join(' ');
}

export function rowJson(row: LearnRow, columns: readonly LearnColumn[] = LEARN_COLUMNS): Record<string, unknown> {
  return Object.fromEntries(columns.map((c) => [c.json[0], c.json[1](row)]));
}
