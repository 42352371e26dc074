/**
 * Reading Kubernetes YAML: multi-document files and `kind: List` wrappers (what `kubectl get -o yaml`
 * prints), each object with the line it starts on so errors can point at it.
 */
import { readFileSync } from 'node:fs';
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
