/**
 * The shape of src/: layers point one way (cli → daemon → policy → cluster/agent → flows; errors.ts is a
 * leaf anyone may import), no command imports another command's folder, and no import circle.
 * Every import counts: static, type-only, dynamic `import()`, and any string naming a relative
 * `.js` module that exists (learn reaches its live mode through such a string, so the bundler-free
 * lazy load is not a way around the rules). A worker's entry file (`new URL('./x.js', import.meta.url)`
 * handed to `new Worker`) counts too: it runs in another thread, but a worker entry that imports
 * back the module starting it ties the two into one knot all the same (parallel.ts ↔ edge-worker.ts
 * was one), so what both need goes into a third module.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '../..');
const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative module specifiers a file names, resolved to src-relative paths of files that exist. */
export function importsOf(file: string, text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/(['"`])(\.{1,2}\/[^'"`\n]+?)\.js\1/g)) {
    const base = normalize(join(dirname(file), m[2]!));
    for (const ext of ['.ts', '.tsx']) {
      if (existsSync(base + ext)) {
        found.add(relative(SRC, base + ext));
        break;
      }
    }
  }
  return [...found];
}

/** The layer of a src-relative path: higher may import lower or equal, never the other way. */
export function layerOf(path: string): { name: string; rank: number } | undefined {
  if (path === 'errors.ts') return undefined; // the leaf every layer may import
  const top = path.split('/')[0]!;
  const ranks: Record<string, number> = { cli: 5, daemon: 4, policy: 3, cluster: 2, agent: 2, flows: 1 };
  const rank = ranks[top];
  if (rank === undefined) throw new Error(`src/${path}: in no known layer; add its folder to layerOf`);
  return { name: top, rank };
}

/** The command folder a path is in (src/cli/commands/<command>/...), if any. */
function commandOf(path: string): string | undefined {
  return /^cli\/commands\/([^/]+)\//.exec(path)?.[1];
}

export function layerViolations(graph: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [from, tos] of graph) {
    const a = layerOf(from);
    for (const to of tos) {
      const b = layerOf(to);
      if (a && b && b.rank > a.rank) out.push(`src/${from} (${a.name}) imports src/${to} (${b.name}): a backwards layer arrow`);
      const ca = commandOf(from);
      const cb = commandOf(to);
      if (cb !== undefined && ca !== undefined && ca !== cb) out.push(`src/${from} (command ${ca}) imports src/${to} (command ${cb})`);
      if (cb !== undefined && ca === undefined && /^cli\/(shared|output|views)\//.test(from)) {
        out.push(`src/${from} (shared by commands) imports src/${to} (command ${cb})`);
      }
    }
  }
  return out.sort();
}

/** Import circles: the strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function importCircles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return circles;
}

function srcGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) graph.set(relative(SRC, file), importsOf(file, readFileSync(file, 'utf8')));
  return graph;
}

describe('layers of src/', () => {
  const graph = srcGraph();

  it('reads the imports of every source file, dynamic and lazy ones included', () => {
    expect(graph.size).toBeGreaterThan(100);
    // A static import, a dynamic import() and the string learn's live mode is loaded through.
    expect(graph.get('cli/program.ts')).toContain('cli/commands/learn/index.ts');
    expect(graph.get('cli/main.ts')).toContain('cli/program.ts');
    expect(graph.get('cli/commands/learn/index.ts')).toContain('cli/commands/learn/live.ts');
    // The worker parallel.ts starts counts as its import (see the header); the worker does not import parallel.ts back.
    expect(graph.get('flows/parallel.ts')).toContain('flows/edge-worker.ts');
    expect(graph.get('flows/edge-worker.ts')).not.toContain('flows/parallel.ts');
  });

  it('has no import circle', () => {
    expect(importCircles(graph)).toEqual([]);
  });

  it('has no backwards layer arrow and no command importing another command', () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it('the checks catch what they are for', () => {
    // A worker entry named through new URL(…, import.meta.url) is an import, so a worker importing
    // back the module that starts it is a circle.
    const workerStart = "new Worker(new URL('./edge-worker.js', import.meta.url), { workerData })";
    expect(importsOf(join(SRC, 'flows/parallel.ts'), workerStart)).toEqual(['flows/edge-worker.ts']);
    expect(importCircles(new Map([['flows/parallel.ts', ['flows/edge-worker.ts']], ['flows/edge-worker.ts', ['flows/parallel.ts']]]))).toEqual([['flows/edge-worker.ts', 'flows/parallel.ts']]);
    const bad = new Map<string, string[]>([
      ['cluster/a.ts', ['policy/b.ts', 'errors.ts']],
      ['policy/b.ts', ['cluster/a.ts']],
      ['cli/commands/x/index.ts', ['cli/commands/y/live.ts', 'cli/shared/s.ts']],
      ['cli/commands/y/live.ts', []],
      ['cli/shared/s.ts', ['cli/commands/y/live.ts']],
      ['errors.ts', []],
    ]);
    expect(importCircles(bad)).toEqual([['cluster/a.ts', 'policy/b.ts']]);
    expect(layerViolations(bad)).toEqual([
      'src/cli/commands/x/index.ts (command x) imports src/cli/commands/y/live.ts (command y)',
      'src/cli/shared/s.ts (shared by commands) imports src/cli/commands/y/live.ts (command y)',
      'src/cluster/a.ts (cluster) imports src/policy/b.ts (policy): a backwards layer arrow',
    ]);
  });
});
