// Fuzzing netpol's untrusted inputs: flow files (JSONL), cluster snapshots (YAML/JSON) and policy
// files, mutated from the fixtures and the repro inputs, each run through the CLI's own command
// tree in-process (buildProgram().parseAsync, errors mapped to exit codes as src/cli/main.ts
// does). Used by bench/fuzz.mjs (10,000+ inputs per kind, a supervisor that catches hangs) and
// by test/cli/fuzz.test.ts (a few hundred per kind, fixed seed, in CI).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { rng } from './synthetic.mjs';

export const ROOT = new URL('..', import.meta.url).pathname;
export const KINDS = ['flows', 'snapshot', 'policies'];

const read = (p) => readFileSync(join(ROOT, p), 'utf8');
const repro = (prefix) =>
  readdirSync(join(ROOT, 'fixtures/repro'))
    .filter((n) => n.startsWith(prefix))
    .map((n) => read(join('fixtures/repro', n)));

/** The texts every mutation starts from, per kind. */
export function seeds() {
  const cluster = read('fixtures/demo/cluster.yaml');
  const clusterJson = JSON.stringify(parseAllDocuments(cluster)[0].toJS(), null, 1);
  const policyFiles = ['policies/default/mypod.yaml', 'policies/shop/web.yaml', 'policies/shop/api.yaml', 'policies/payments/ledger.yaml'].map(read);
  return {
    flows: [read('fixtures/demo/flows.jsonl'), read('fixtures/demo/flows-later.jsonl'), ...repro('f')],
    snapshot: [cluster, clusterJson, ...repro('c-')],
    policies: [...policyFiles, policyFiles.join('---\n'), ...repro('p-')],
  };
}

/** Tokens that broke parsers before or stand for a class of trouble (aliases, zones, nesting, huge). */
const TOKENS = [
  '*a', '&a ', '&a [x, x]', '*nope', '<<: *a', '!!binary', '!<tag:yaml.org,2002:js/undefined>', '%eth0', 'fe80::1%eth0', '::ffff:10.0.0.1',
  '[[[[[[[[', ']]]]', '{{{{', '}}}}', 'null', '~', '-1', '1e309', '0x1F', '65536', '99999999999999999999', 'true', '[]', '{}', '""', "''",
  '\u0000', '\uFFFD', '\r', '\t', '\n- ', '\n  ', ': ', '---\n', '...\n', '#', '"\\u0000"', '"\\ud800"', 'NaN', '.inf', '2026-13-45T25:61:61Z',
  '__proto__', 'constructor', 'kind: List', 'kind: Pod', 'items:', 'ownerReferences:', 'podIPs: 30', 'labels: run', 'port: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_',
  '"v":2', '"proto":"ICMP"', '"ip":"fe80::1%eth0"', '"port":-1', '"port":"80"', '"src":[]', '"dst":null', '"ts":"yesterday"',
];

/** Replacement values for structure-aware mutation: wrong types, edge values, deep and big ones. */
function randomValue(r, kind) {
  // Deep values go through JSON.stringify for flows; YAML's stringify is slow on them (seconds at
  // 2,000 levels), and the YAML kinds get deep nesting from TOKENS instead.
  const deepest = kind === 'flows' ? 2000 : 200;
  const deep = (n) => JSON.parse('['.repeat(Math.min(n, deepest)) + ']'.repeat(Math.min(n, deepest)));
  const pick = [
    () => null, () => true, () => 0, () => -1, () => 65536, () => 1.5, () => 1e308, () => '', () => 'x', () => 'None',
    () => 'fe80::1%eth0', () => '10.0.0.1', () => '2001:db8::1', () => '::ffff:10.0.0.2', () => '0.0.0.0/0', () => '10.0.0.0/33',
    () => 'a'.repeat(1 + Math.floor(r() * 5000)), () => 'aaaaaaaaaaaaaaaaaaaaaaaaaaaa_', () => [], () => {}, () => ({ kind: 'ReplicaSet' }),
    () => [1, 'x', null], () => ({ a: { b: { c: 1 } } }), () => deep(1 + Math.floor(r() * 2000)), () => 'TCP', () => 'Ingress', () => 'In',
    () => ({ matchLabels: { app: 'x' } }), () => [{ ip: 'fe80::2%lo' }], () => '__proto__', () => 'http', () => 80,
  ];
  return pick[Math.floor(r() * pick.length)]();
}

/** Every path (list of keys) into a plain value, up to a bound. */
function paths(value, prefix = [], out = [], depth = 0) {
  if (out.length > 2000 || depth > 12) return out;
  if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) {
      out.push([...prefix, k]);
      paths(value[k], [...prefix, k], out, depth + 1);
    }
  }
  return out;
}

function mutateValue(value, r, kind) {
  const all = paths(value);
  if (all.length === 0) return randomValue(r, kind);
  const path = all[Math.floor(r() * all.length)];
  let parent = value;
  for (const k of path.slice(0, -1)) parent = parent[k];
  const key = path[path.length - 1];
  const op = r();
  if (op < 0.7) parent[key] = randomValue(r, kind);
  else if (op < 0.85) delete parent[key];
  else if (Array.isArray(parent[key])) parent[key].push(structuredClone(parent[key][0] ?? randomValue(r, kind)));
  else parent[key] = [parent[key]];
  return value;
}

/** One structure-aware mutation: parse, change one field, write back (YAML or JSON as it came). */
function mutateStructured(text, kind, r) {
  // Parsing and writing back a large text costs seconds in YAML: large inputs get text mutations only.
  if (text.length > 256 * 1024) return text;
  if (kind === 'flows') {
    const lines = text.split('\n');
    const i = Math.floor(r() * lines.length);
    try {
      lines[i] = JSON.stringify(mutateValue(JSON.parse(lines[i]), r, kind));
    } catch {
      return text;
    }
    return lines.join('\n');
  }
  const json = text.trimStart().startsWith('{');
  try {
    const docs = parseAllDocuments(text, { logLevel: 'error' }).map((d) => d.toJS({ maxAliasCount: 100 }));
    const i = Math.floor(r() * docs.length);
    docs[i] = mutateValue(docs[i], r, kind);
    if (json && docs.length === 1) return JSON.stringify(docs[0], null, 1);
    return docs.map((d) => stringify(d, { aliasDuplicateObjects: false })).join('---\n');
  } catch {
    return text;
  }
}

/** One text mutation: bytes and lines edited, tokens inserted, pieces of another seed spliced in. */
function mutateText(text, pool, r) {
  const at = () => Math.floor(r() * (text.length + 1));
  const op = Math.floor(r() * 8);
  switch (op) {
    case 0: {
      const i = at();
      return text.slice(0, i) + TOKENS[Math.floor(r() * TOKENS.length)] + text.slice(i);
    }
    case 1: {
      const i = at();
      return text.slice(0, i) + text.slice(i + 1 + Math.floor(r() * 40));
    }
    case 2: {
      const i = at();
      return text.slice(0, i) + String.fromCharCode(Math.floor(r() * 128)) + text.slice(i + 1);
    }
    case 3: {
      // A torn end: cut anywhere (what a full disk or a kill leaves).
      return text.slice(0, at());
    }
    case 4: {
      const i = at();
      const n = Math.floor(r() * 200);
      return text.slice(0, i) + text.slice(i, i + n).repeat(1 + Math.floor(r() * 50)) + text.slice(i + n);
    }
    case 5: {
      const other = pool[Math.floor(r() * pool.length)];
      const j = Math.floor(r() * other.length);
      const i = at();
      return text.slice(0, i) + other.slice(j, j + Math.floor(r() * 400)) + text.slice(i);
    }
    case 6: {
      const lines = text.split('\n');
      const i = Math.floor(r() * lines.length);
      const j = Math.floor(r() * lines.length);
      [lines[i], lines[j]] = [lines[j], lines[i]];
      return lines.join('\n');
    }
    default: {
      // Indentation shifted on one line: YAML structure changes meaning.
      const lines = text.split('\n');
      const i = Math.floor(r() * lines.length);
      lines[i] = r() < 0.5 ? `  ${lines[i]}` : lines[i].replace(/^ {1,2}/, '');
      return lines.join('\n');
    }
  }
}

/** The i-th input of a kind for a seed: the same bytes on every run and machine. */
export function makeInput(kind, seed, i, allSeeds) {
  const r = rng((seed * 1_000_003 + i * 7919 + KINDS.indexOf(kind) * 104_729) >>> 0);
  const pool = allSeeds[kind];
  let text = pool[Math.floor(r() * pool.length)];
  // Mostly one mutation, so most inputs are nearly valid and reach past the parser.
  const rounds = r() < 0.6 ? 1 : 2 + Math.floor(r() * 3);
  for (let k = 0; k < rounds; k++) text = r() < 0.5 ? mutateStructured(text, kind, r) : mutateText(text, pool, r);
  return text;
}

/** The command line that reads an input of a kind (the input file last but one element set by the caller). */
export function commandFor(kind, file, i) {
  const cluster = join(ROOT, 'fixtures/demo/cluster.yaml');
  const flows = join(ROOT, 'fixtures/demo/flows.jsonl');
  const command = i % 2 === 0 ? 'learn' : 'diff';
  if (kind === 'flows') return [command, '--flows', file, '--cluster', cluster, ...(command === 'diff' ? ['-o', 'json'] : [])];
  if (kind === 'snapshot') return [command, '--flows', flows, '--cluster', file];
  return ['diff', '--flows', flows, '--cluster', cluster, '--policies', file, ...(i % 2 === 0 ? ['--explain'] : ['-o', 'json'])];
}

/**
 * An in-process runner over the CLI's command tree of `dist` (built) or `src` (under vitest):
 * stdout and stderr captured, errors mapped to exit codes as src/cli/main.ts maps them.
 */
export async function inProcessRunner(base = join(ROOT, 'dist')) {
  process.env.NODE_ENV ??= 'production';
  const { buildProgram } = await import(join(base, 'cli/program.js'));
  const { NetpolError } = await import(join(base, 'errors.js'));
  const { Command, CommanderError } = await import('commander');
  void Command;
  return async function run(args) {
    const program = buildProgram('netpol');
    const override = (c) => {
      c.exitOverride();
      c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
      c.commands.forEach(override);
    };
    override(program);
    const out = process.stdout.write;
    const err = process.stderr.write;
    let stderr = '';
    // Callbacks still run: a command that waits for its output to drain must not wait forever.
    const done = (a, b) => {
      const cb = typeof a === 'function' ? a : b;
      if (typeof cb === 'function') setImmediate(cb);
      return true;
    };
    process.stdout.write = (_chunk, a, b) => done(a, b);
    process.stderr.write = (chunk, a, b) => {
      if (stderr.length < 4096) stderr += String(chunk);
      return done(a, b);
    };
    process.exitCode = undefined;
    let code;
    try {
      await program.parseAsync(['node', 'netpol', ...args]);
      code = typeof process.exitCode === 'number' ? process.exitCode : 0;
    } catch (e) {
      if (e instanceof CommanderError) code = 2;
      else if (e instanceof NetpolError) {
        code = e.exitCode;
        stderr += `error: ${e.message}\n`;
      } else {
        code = 4;
        stderr += `netpol: internal error: ${e?.stack ?? String(e)}\n`;
      }
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
      process.exitCode = undefined;
    }
    return { code, stderr };
  };
}

/**
 * Runs `count` inputs of `kind` from `first`, calling `onInput(i)` before each (a supervisor's
 * watchdog) and returning per-input figures; inputs that fail an assertion are saved in `saveDir`.
 */
export async function fuzzKind({ kind, seed, first = 0, count, run, dir, saveDir, onInput = () => {} }) {
  const allSeeds = seeds();
  const result = { kind, inputs: 0, codes: {}, maxMs: 0, maxMsInput: -1, maxRss: 0, failures: [] };
  mkdirSync(dir, { recursive: true });
  const ext = kind === 'flows' ? 'jsonl' : 'yaml';
  for (let i = first; i < first + count; i++) {
    // The supervisor's watchdog times netpol, not the mutators: it is told which phase runs.
    onInput(i, 'make', result);
    const text = makeInput(kind, seed, i, allSeeds);
    const file = join(dir, `input-${kind}.${ext}`);
    writeFileSync(file, text);
    onInput(i, 'run');
    const t = performance.now();
    const { code, stderr } = await run(commandFor(kind, file, i));
    const ms = performance.now() - t;
    const rss = process.memoryUsage().rss;
    result.inputs++;
    result.codes[code] = (result.codes[code] ?? 0) + 1;
    if (ms > result.maxMs) [result.maxMs, result.maxMsInput] = [ms, i];
    result.maxRss = Math.max(result.maxRss, rss);
    if (code === 4 || ms > 10_000 || rss > 2 ** 30 || ![0, 1, 2].includes(code)) {
      const saved = saveDir ? join(saveDir, `${kind}-seed${seed}-${i}.${ext}`) : undefined;
      if (saved) {
        mkdirSync(saveDir, { recursive: true });
        writeFileSync(saved, text);
      }
      result.failures.push({ i, code, ms: Math.round(ms), rssMiB: Math.round(rss / 2 ** 20), saved, stderr: stderr.slice(0, 600) });
    }
  }
  return result;
}
