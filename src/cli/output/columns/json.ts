/** The JSON view of a column declaration (./model.ts): every column with a json path, nested by the dots in the path. */
import type { Column } from './model.js';

/**
 * The JSON view compiled once for a column list (paths split ahead of time): the per-row cost of
 * `-o json` is building one object and stringifying it.
 */
export function compileJson<R, X>(columns: readonly Column<R, X>[]): (r: R) => Record<string, unknown> {
  const fields = columns.flatMap((c) => (c.json ? [{ parents: c.json.path.split('.'), value: c.json.value }] : []));
  const compiled = fields.map((f) => ({ leaf: f.parents.pop() as string, parents: f.parents, value: f.value }));
  return (r) => {
    const out: Record<string, unknown> = {};
    for (const f of compiled) {
      let obj = out;
      for (const p of f.parents) obj = (obj[p] ??= {}) as Record<string, unknown>;
      obj[f.leaf] = f.value(r);
    }
    return out;
  };
}

/** One row's JSON object (compileJson for a single use). */
export function toJson<R, X>(r: R, columns: readonly Column<R, X>[]): Record<string, unknown> {
  return compileJson(columns)(r);
}
