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

/** A string JSON.stringify would write as is between quotes (no quote, backslash, control character or surrogate). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function stringText(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * JSON.stringify(v) for the plain data column values are (strings, numbers, booleans, null, plain
 * objects and arrays of them), without the generic walk's cost; anything else (toJSON, bigint,
 * class instances) goes to JSON.stringify itself. undefined (and functions, symbols) → undefined,
 * as JSON.stringify omits them.
 */
export function jsonText(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return stringText(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        if (Object.getPrototypeOf(v) !== Array.prototype) return JSON.stringify(v);
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + (jsonText(v[i]) ?? 'null');
        return out + ']';
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if ((proto !== Object.prototype && proto !== null) || typeof (v as { toJSON?: unknown }).toJSON === 'function') return JSON.stringify(v);
      let out = '{';
      let first = true;
      for (const key of Object.keys(v)) {
        const text = jsonText((v as Record<string, unknown>)[key]);
        if (text === undefined) continue;
        out += (first ? '' : ',') + stringText(key) + ':' + text;
        first = false;
      }
      return out + '}';
    }
    default:
      return JSON.stringify(v);
  }
}

interface TextNode {
  /** `"key":`, ready to write. */
  head: string;
  value?: (r: never) => unknown;
  /** The value's JSON text written directly (Column.json.text), instead of value + jsonText. */
  text?: (r: never) => string;
  children?: TextNode[];
  /** The last primitive value written here and its text: a storm's rows repeat most fields (pid, netns, comm). */
  last?: unknown;
  lastText?: string | undefined;
  /**
   * An object node: the texts its children wrote last time, and the object's text from them. When
   * every child wrote the very same string again (a storm's `runtime` of one container), the
   * object's text is reused rather than concatenated anew.
   */
  childTexts?: (string | undefined)[];
  /** `"key":text` of each child, kept with childTexts: a repeated member is not concatenated anew. */
  members?: (string | undefined)[];
}

/** Keys an object orders before the others (array indexes): the text serializer would order them differently. */
const INDEX_KEY = /^(?:0|[1-9]\d*)$/;

/**
 * The JSON view as text, compiled once for a column list: what JSON.stringify(compileJson(columns)(r))
 * writes, byte for byte, without building the object and walking it (test/unit/json-text.test.ts
 * compares the two). A `-o json` trace of a connect storm writes tens of thousands of these a second.
 */
export function compileJsonText<R, X>(columns: readonly Column<R, X>[]): (r: R) => string {
  const root: TextNode[] = [];
  const byPath = new Map<string, TextNode>();
  for (const c of columns) {
    if (!c.json) continue;
    const parts = c.json.path.split('.');
    if (parts.some((p) => INDEX_KEY.test(p))) {
      // Objects put index-like keys first: leave such layouts to the object view.
      const object = compileJson(columns);
      return (r) => JSON.stringify(object(r));
    }
    let level = root;
    for (let i = 0; i < parts.length; i++) {
      const path = parts.slice(0, i + 1).join('.');
      let node = byPath.get(path);
      const leaf = i === parts.length - 1;
      if (!node) {
        node = { head: `${stringText(parts[i]!)}:` };
        byPath.set(path, node);
        level.push(node);
      }
      if (leaf) {
        // A later column with the same path overwrites the value in place, as assignment does.
        node.value = c.json.value as (r: never) => unknown;
        node.text = c.json.text as ((r: never) => string) | undefined;
        node.children = undefined;
      } else {
        node.value = undefined;
        node.text = undefined;
        node.children ??= [];
        level = node.children;
      }
    }
  }
  /** A member's text for row r (undefined: the member is left out, as JSON.stringify leaves out undefined). */
  const valueText = (n: TextNode, r: R): string | undefined => {
    if (n.children) return object(n, r);
    if (n.text) return (n.text as (r: R) => string)(r);
    const v = (n.value as (r: R) => unknown)(r);
    if (v === n.last && v !== undefined && (typeof v !== 'object' || v === null)) return n.lastText;
    const text = jsonText(v);
    n.last = v;
    n.lastText = text;
    return text;
  };
  const object = (parent: TextNode, r: R): string => {
    const nodes = parent.children!;
    const last = (parent.childTexts ??= []);
    const members = (parent.members ??= []);
    let same = parent.lastText !== undefined;
    for (let i = 0; i < nodes.length; i++) {
      const text = valueText(nodes[i]!, r);
      if (text !== last[i]) {
        same = false;
        last[i] = text;
        members[i] = text === undefined ? undefined : nodes[i]!.head + text;
      }
    }
    if (same) return parent.lastText!;
    let out = '{';
    let first = true;
    for (let i = 0; i < nodes.length; i++) {
      const member = members[i];
      if (member === undefined) continue;
      if (first) {
        out += member;
        first = false;
      } else out += ',' + member;
    }
    out += '}';
    parent.lastText = out;
    return out;
  };
  const top: TextNode = { head: '', children: root };
  return (r) => object(top, r);
}
