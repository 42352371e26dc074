/**
 * Loading NetworkPolicies from files and directories (`--policies FILE|DIR`): every YAML document,
 * `List`s flattened, each object validated as the API server would (validate.ts), errors naming file,
 * line and field. Directories are walked recursively in sorted order, so the result does not depend
 * on the file system. What is skipped is decided by content, not by file name: a `kind: Kustomization`
 * document (the `kustomization.yaml` that `learn` writes beside the policies, or one of the user's)
 * and a kind-less kustomization file (kustomize accepts one without apiVersion and kind); a
 * NetworkPolicy is loaded whatever its file is called, and any other kind is an error.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { isMap, parseAllDocuments } from 'yaml';
import { normalizeIngressPeers, type V1NetworkPolicy } from '../cluster/objects.js';
import { parseKubeYaml, readText, type LocatedObject } from '../cluster/yaml-documents.js';
import { InputError } from '../errors.js';
import { validateNetworkPolicy } from './validate.js';

export interface LoadedPolicy {
  policy: V1NetworkPolicy;
  file: string;
  /** Line the object starts on. */
  line: number;
}

export interface LoadOptions {
  /** Namespace of policies that name none (kubectl would use its context's). Default: `default`. */
  defaultNamespace?: string;
}

const KUSTOMIZATION_FILES = new Set(['kustomization.yaml', 'kustomization.yml', 'Kustomization']);

/** Kinds kustomize reads from a kustomization file; such a document holds no policy. */
const KUSTOMIZE_KINDS = new Set(['Kustomization', 'Component']);

function isYamlFile(name: string): boolean {
  return name.endsWith('.yaml') || name.endsWith('.yml') || KUSTOMIZATION_FILES.has(name);
}

/**
 * A file kustomize reads as a kustomization written without apiVersion and kind (which kustomize
 * allows): by name AND content — every document a mapping with neither field. Such a file cannot
 * hold a NetworkPolicy (that needs a kind); anything else in it is judged as in any other file.
 */
function isKindlessKustomization(file: string, text: string): boolean {
  if (!KUSTOMIZATION_FILES.has(basename(file))) return false;
  let docs;
  try {
    docs = parseAllDocuments(text);
  } catch {
    return false;
  }
  let seen = 0;
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) return false;
    const contents = doc.contents;
    if (contents === null) continue;
    if (!isMap(contents) || contents.has('kind') || contents.has('apiVersion')) return false;
    seen++;
  }
  return seen > 0;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function walk(dir: string, out: string[]): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    throw new InputError(dir, `cannot read directory: ${(err as Error).message}`);
  }
  for (const name of entries.sort(byCodePoint)) {
    if (name.startsWith('.')) continue; // .git, editor swap directories
    const path = join(dir, name);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) continue; // a dangling symlink
    if (st.isDirectory()) walk(path, out);
    else if (st.isFile() && isYamlFile(name)) out.push(path);
  }
}

/**
 * The policy files a list of paths stands for: files as given, directories expanded (sorted); a file
 * reached twice (a directory and a file in it) is read once.
 */
export function policyFiles(paths: string[]): string[] {
  const files: string[] = [];
  for (const path of paths) {
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) throw new InputError(path, 'no such file or directory');
    if (st.isDirectory()) {
      const found: string[] = [];
      walk(path, found);
      files.push(...found);
    } else {
      files.push(path);
    }
  }
  const seen = new Set<string>();
  return files.filter((f) => {
    const key = resolve(f);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Every NetworkPolicy of the given files and directories, validated, with where each came from. */
export function loadPolicyFiles(paths: string[], options: LoadOptions = {}): LoadedPolicy[] {
  const defaultNamespace = options.defaultNamespace ?? 'default';
  const out: LoadedPolicy[] = [];
  const seen = new Map<string, LoadedPolicy>();
  for (const file of policyFiles(paths)) {
    const text = readText(file);
    if (isKindlessKustomization(file, text)) continue;
    const located = parseKubeYaml(text, file);
    located.forEach((item) => {
      const kind = item.object.kind;
      if (typeof kind === 'string' && KUSTOMIZE_KINDS.has(kind) && String(item.object.apiVersion ?? 'kustomize.config.k8s.io/').startsWith('kustomize.config.k8s.io/')) return;
      if (kind !== 'NetworkPolicy') {
        throw new InputError(file, `expected only NetworkPolicy objects, found kind ${String(kind)}`, item.line, 'kind');
      }
      const policy = normalizeIngressPeers(validateNetworkPolicy(item.object, { file, line: item.line, ...(item.lineOf ? { lineOf: item.lineOf } : {}) }));
      policy.metadata!.namespace ||= defaultNamespace;
      const key = `${policy.metadata!.namespace}/${policy.metadata!.name}`;
      const before = seen.get(key);
      if (before) {
        throw new InputError(file, `NetworkPolicy ${key} is defined twice (first at ${before.file}:${before.line})`, item.line, 'metadata.name');
      }
      const loaded = { policy, file, line: item.line };
      seen.set(key, loaded);
      out.push(loaded);
    });
  }
  return out;
}

/** Every NetworkPolicy of the given files and directories, validated, in file order. */
export function loadPolicies(paths: string[], options: LoadOptions = {}): V1NetworkPolicy[] {
  return loadPolicyFiles(paths, options).map((p) => p.policy);
}

/**
 * Validates a NetworkPolicy read from a cluster snapshot as loadPolicyFiles validates policy files
 * (SnapshotOptions.checkNetworkPolicy). `status` is dropped first: what `kubectl get` prints for
 * clusters that had the (alpha, since removed) NetworkPolicy status is no error of the file.
 */
export function checkSnapshotPolicy(located: LocatedObject): void {
  const { status: _status, ...policy } = located.object;
  validateNetworkPolicy(policy, { file: located.file, line: located.line, ...(located.lineOf ? { lineOf: located.lineOf } : {}) });
}
