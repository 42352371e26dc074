/**
 * Reading Kubernetes YAML: multi-document files and `kind: List` wrappers (what `kubectl get -o yaml`
 * prints), each object with the line it starts on so errors can point at it.
 */
import { readFileSync } from 'node:fs';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { LineCounter, parseAllDocuments } from 'yaml';
import { InputError } from '../errors.js';

export interface LocatedObject {
  object: Record<string, unknown>;
  file: string;
  line: number;
}

export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String((err as Error).message);
    throw new InputError(file, `cannot read: ${why}`);
  }
}

/** Every Kubernetes object in a YAML text, Lists flattened; a YAML error names file and line. */
export function parseKubeYaml(text: string, file: string): LocatedObject[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const out: LocatedObject[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const firstError = doc.errors[0];
    if (firstError) {
      const line = lineCounter.linePos(firstError.pos[0]).line;
      throw new InputError(file, `invalid YAML: ${firstError.message.split('\n')[0]}`, line);
    }
    const startLine = doc.contents ? lineCounter.linePos(doc.contents.range[0]).line : 1;
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) continue; // empty document between ---
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new InputError(file, 'expected a Kubernetes object (a YAML mapping with apiVersion and kind)', startLine);
    }
    const obj = value as Record<string, unknown>;
    if (typeof obj.kind !== 'string') throw new InputError(file, 'object has no kind', startLine, 'kind');
    if (obj.kind === 'List' || obj.kind.endsWith('List')) {
      const items = obj.items;
      if (!Array.isArray(items)) throw new InputError(file, `${obj.kind} without an items array`, startLine, 'items');
      // Lines of list items: find each item's node for an accurate line number.
      const itemsNode = (doc.get('items', true) as { items?: { range?: [number, number, number] }[] } | undefined)?.items ?? [];
      items.forEach((item, i) => {
        const range = itemsNode[i]?.range;
        const line = range ? lineCounter.linePos(range[0]).line : startLine;
        if (typeof item !== 'object' || item === null || Array.isArray(item)) {
          throw new InputError(file, 'list item is not an object', line, `items[${i}]`);
        }
        out.push({ object: item as Record<string, unknown>, file, line });
      });
    } else {
      out.push({ object: obj, file, line: startLine });
    }
  }
  return out;
}

/**
 * The same objects without line numbers (line 0), several times faster: JSON (`kubectl -o json`)
 * through JSON.parse, YAML through js-yaml. Large snapshots go through here first; only when they
 * turn out to be wrong are they parsed again with parseKubeYaml to point at the line.
 */
export function parseKubeYamlFast(text: string, file: string): LocatedObject[] {
  const trimmed = text.trimStart();
  // The YAML 1.2 core schema, as parseKubeYaml's parser reads by default: timestamps stay strings
  // (the API's own form) and scalars are not tried against the timestamp and merge types, which
  // was a sixth of the parse on large snapshots.
  const docs: unknown[] = trimmed.startsWith('{') ? [JSON.parse(text)] : loadAll(text, undefined, { json: true, schema: CORE_SCHEMA });
  const out: LocatedObject[] = [];
  for (const value of docs) {
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new InputError(file, 'expected a Kubernetes object');
    const obj = value as Record<string, unknown>;
    if (typeof obj.kind === 'string' && obj.kind.endsWith('List') && Array.isArray(obj.items)) {
      for (const item of obj.items) out.push({ object: item as Record<string, unknown>, file, line: 0 });
    } else {
      out.push({ object: obj, file, line: 0 });
    }
  }
  return out;
}

/**
 * Reads and checks objects with `use`, fast first; on any error, again with line numbers, so the
 * error the user sees names the line. `use` must be repeatable (it gets fresh objects each time).
 */
export function withLocatedObjects<T>(file: string, use: (objects: LocatedObject[]) => T): T {
  const text = readText(file);
  try {
    return use(parseKubeYamlFast(text, file));
  } catch (fastError) {
    const precise = use(parseKubeYaml(text, file));
    // The precise parse accepted what the fast one refused (a YAML corner case): trust the precise one.
    void fastError;
    return precise;
  }
}
