/**
 * A small YAML emitter for JSON-shaped data (maps, sequences, strings, numbers, booleans, null),
 * in block style with two-space indentation and indented sequences — the layout `kubectl` users
 * read every day. Used for generated policies: a learn of a thousand workloads renders in tens of
 * milliseconds instead of a second through a general-purpose document model, and the output is a
 * pure function of the input (key order as given).
 *
 * Strings are written plain only when no YAML reader can take them for anything else — including
 * YAML 1.1 readers such as the one behind `kubectl apply` (sigs.k8s.io/yaml), which reads `on`, `no`
 * or `010` as a boolean or a number. Everything else is double-quoted with JSON escapes, which are
 * valid YAML double-quoted escapes.
 */

type Json = string | number | boolean | null | Json[] | { [key: string]: Json | undefined };

/** Words YAML 1.1 or 1.2 read as booleans or null (compared case-insensitively). */
const RESERVED = new Set(['y', 'n', 'yes', 'no', 'true', 'false', 'on', 'off', 'null', '~']);

/**
 * Plain-safe: starts with a letter, then letters, digits, `.`, `_`, `/`, `-` (label keys and values,
 * names, protocols); or starts with a digit and contains a `/` with no space or `#` (CIDRs: no number
 * or timestamp contains a slash).
 */
const PLAIN_WORD = /^[A-Za-z][A-Za-z0-9._/-]*$/;
const PLAIN_CIDR = /^[0-9A-Fa-f][0-9A-Fa-f.:]*\/[0-9]+$/;
/** `e5`: some YAML 1.1 readers take a bare exponent for a float. */
const EXPONENT_ONLY = /^[eE][-+]?[0-9_]+$/;

export function yamlScalar(value: string | number | boolean | null): string {
  if (value === null) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} in YAML`);
    return String(value);
  }
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if ((PLAIN_WORD.test(value) && !RESERVED.has(value.toLowerCase()) && !EXPONENT_ONLY.test(value)) || PLAIN_CIDR.test(value)) return value;
  return JSON.stringify(value);
}

function isScalar(v: Json): v is string | number | boolean | null {
  return v === null || typeof v !== 'object';
}

function emitMap(obj: { [key: string]: Json | undefined }, indent: number, out: string[]): void {
  const pad = ' '.repeat(indent);
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (value === undefined) continue;
    const k = yamlScalar(key);
    if (isScalar(value)) out.push(`${pad}${k}: ${yamlScalar(value)}`);
    else if (Array.isArray(value)) {
      if (value.length === 0) out.push(`${pad}${k}: []`);
      else {
        out.push(`${pad}${k}:`);
        emitSeq(value, indent + 2, out);
      }
    } else if (Object.keys(value).every((x) => value[x] === undefined)) out.push(`${pad}${k}: {}`);
    else {
      out.push(`${pad}${k}:`);
      emitMap(value, indent + 2, out);
    }
  }
}

function emitSeq(list: Json[], indent: number, out: string[]): void {
  const pad = ' '.repeat(indent);
  for (const item of list) {
    if (isScalar(item)) out.push(`${pad}- ${yamlScalar(item)}`);
    else if (Array.isArray(item)) {
      if (item.length === 0) out.push(`${pad}- []`);
      else {
        out.push(`${pad}-`);
        emitSeq(item, indent + 2, out);
      }
    } else if (Object.keys(item).every((x) => item[x] === undefined)) out.push(`${pad}- {}`);
    else {
      // The first entry of a mapping shares the line of its `- `; the rest align under it.
      const start = out.length;
      emitMap(item, indent + 2, out);
      out[start] = `${pad}- ${out[start]!.slice(indent + 2)}`;
    }
  }
}

/** One YAML document (no `---`), ending with a newline. The top level must be a mapping. */
export function emitYaml(doc: { [key: string]: Json | undefined }): string {
  const out: string[] = [];
  emitMap(doc, 0, out);
  return out.length === 0 ? '{}\n' : `${out.join('\n')}\n`;
}
