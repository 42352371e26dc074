/**
 * Reading Kubernetes YAML: multi-document files and `kind: List` wrappers (what `kubectl get -o yaml`
 * prints), each object with the line it starts on so errors can point at it.
 */
import { readFileSync } from 'node:fs';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, visit, type Document, type EmptyStream } from 'yaml';
import { InputError } from '../errors.js';

export interface LocatedObject {
  object: Record<string, unknown>;
  file: string;
  /** Line the object starts on; 0 when read without line numbers (parseKubeYamlFast). */
  line: number;
  /** The line of a field inside the object (`['spec', 'ports', 0]`), when the YAML nodes were kept. */
  lineOf?: (path: (string | number)[]) => number | undefined;
}

/** Line of the deepest node of `path` that exists under `root` (a mapping key's own line). */
function lineOfPath(root: unknown, path: (string | number)[], lineCounter: LineCounter): number | undefined {
  let node: unknown = root;
  const lineAt = (n: unknown): number | undefined => {
    const range = (n as { range?: [number, number, number] } | null)?.range;
    return range ? lineCounter.linePos(range[0]).line : undefined;
  };
  let line = lineAt(node);
  for (const seg of path) {
    if (typeof seg === 'number' && isSeq(node)) {
      const item: unknown = node.items[seg];
      if (item === undefined) break;
      node = item;
      line = lineAt(item) ?? line;
    } else if (typeof seg === 'string' && isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === seg);
      if (!pair) break;
      line = lineAt(pair.key) ?? line;
      node = pair.value;
    } else {
      break;
    }
  }
  return line;
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

/**
 * Alias expansions a YAML document may make. kubectl never writes anchors; hand-written files use a
 * few. An alias bomb (`&a [*b, *b, ...]` nested) expands exponentially: 624 bytes made 2.45 GB.
 */
export const MAX_YAML_ALIASES = 100;

/**
 * The document as plain data, aliases bounded. An alias that names no anchor, or aliases expanding
 * past MAX_YAML_ALIASES, are input errors at the alias's line (the library throws a bare
 * ReferenceError for both).
 */
export function documentToJS(doc: Document.Parsed, lineCounter: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    // toJS recurses per level like the parser: a document the parser just managed may still be too deep.
    if (err instanceof RangeError) throw new InputError(file, 'invalid YAML: nested too deeply to read', lineCounter.linePos(doc.range[0]).line);
    if (!(err instanceof ReferenceError)) throw err;
    let undefinedAlias: { source: string; line: number } | undefined;
    let firstAliasLine: number | undefined;
    visit(doc, {
      Alias(_key, node) {
        const line = node.range ? lineCounter.linePos(node.range[0]).line : undefined;
        firstAliasLine ??= line;
        if (!node.resolve(doc)) {
          undefinedAlias = { source: node.source, line: line ?? 1 };
          return visit.BREAK;
        }
        return undefined;
      },
    });
    if (undefinedAlias) throw new InputError(file, `invalid YAML: alias *${undefinedAlias.source} names no anchor defined before it`, undefinedAlias.line);
    throw new InputError(file, `invalid YAML: aliases expand to too many nodes (at most ${MAX_YAML_ALIASES} alias expansions per document)`, firstAliasLine);
  }
}

/** The line with the most nesting indicators (`[`, `{`, `- `, indentation): where a nesting bomb is. */
function mostNestedLine(text: string): number {
  let best = 1;
  let bestScore = -1;
  let line = 1;
  let score = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text.charCodeAt(i);
    if (i === text.length || c === 10) {
      if (score > bestScore) [best, bestScore] = [line, score];
      line++;
      score = 0;
    } else if (c === 91 || c === 123 || c === 45 || c === 32) {
      score++;
    }
  }
  return best;
}

/** Every Kubernetes object in a YAML text, Lists flattened; a YAML error names file and line. */
export function parseKubeYaml(text: string, file: string): LocatedObject[] {
  const lineCounter = new LineCounter();
  let docs: Document.Parsed[] | EmptyStream;
  try {
    docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  } catch (err) {
    // The parser recurses per nesting level: `- - - - …` a few thousand deep exhausts the stack.
    if (err instanceof RangeError) throw new InputError(file, 'invalid YAML: nested too deeply to read', mostNestedLine(text));
    throw err;
  }
  const out: LocatedObject[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    const firstError = doc.errors[0];
    if (firstError) {
      const line = lineCounter.linePos(firstError.pos[0]).line;
      throw new InputError(file, `invalid YAML: ${firstError.message.split('\n')[0]}`, line);
    }
    const startLine = doc.contents ? lineCounter.linePos(doc.contents.range[0]).line : 1;
    const value = documentToJS(doc, lineCounter, file);
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
        const node = itemsNode[i];
        const range = node?.range;
        const line = range ? lineCounter.linePos(range[0]).line : startLine;
        if (typeof item !== 'object' || item === null || Array.isArray(item)) {
          throw new InputError(file, 'list item is not an object', line, `items[${i}]`);
        }
        out.push({ object: item as Record<string, unknown>, file, line, ...(node ? { lineOf: (path) => lineOfPath(node, path, lineCounter) } : {}) });
      });
    } else {
      const node = doc.contents;
      out.push({ object: obj, file, line: startLine, lineOf: (path) => lineOfPath(node, path, lineCounter) });
    }
  }
  return out;
}

/**
 * js-yaml resolves aliases without any limit. kubectl output has no anchors, so the fast path refuses
 * the first one and leaves the file to parseKubeYaml, which bounds alias expansion.
 */
function refuseAnchors(event: string, state: object): void {
  // `anchor` is loader state the typings leave out: the anchor of the node just read, if any.
  if (event === 'close' && (state as { anchor?: string | null }).anchor != null) throw new Error('YAML anchors: left to the bounded parser');
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
  // No `&`, no anchor: the listener (a call per node) is only paid where an anchor could be.
  const options = { json: true, schema: CORE_SCHEMA, ...(text.includes('&') ? { listener: refuseAnchors } : {}) };
  const docs: unknown[] = trimmed.startsWith('{') ? [JSON.parse(text)] : loadAll(text, undefined, options);
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
