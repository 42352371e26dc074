/**
 * Drift between a committed policy tree and what `learn` generates now. Files are compared by
 * content after canonical re-rendering, so a reformatted but equivalent file is not drift; a real
 * difference is shown as a unified diff of the canonical YAML.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { createTwoFilesPatch } from 'diff/lib/patch/create.js'; // one module of diff, not all of it (CLI start-up)
import { parseKubeYaml, readText } from '../cluster/yaml-documents.js';
import type { V1NetworkPolicy } from '../cluster/objects.js';
import type { DriftEntry } from './audit.js';
import { renderKustomization, renderPolicies } from './render.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, type SynthesisResult } from './synthesize/index.js';
import { KUSTOMIZATION_FILE } from './write.js';

function yamlFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.ya?ml$/.test(name)) out.push(relative(dir, full).split(sep).join('/'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** The committed file, re-rendered canonically when it parses as NetworkPolicies; else its text. */
function canonicalCommitted(dir: string, path: string): string {
  const file = join(dir, path);
  const text = readText(file);
  if (path === KUSTOMIZATION_FILE) return text;
  try {
    const objects = parseKubeYaml(text, file).map((o) => o.object);
    if (objects.every((o) => o.kind === 'NetworkPolicy')) return renderPolicies(objects as V1NetworkPolicy[]);
  } catch {
    // Not parseable: compare the text as it is; the diff will show the difference.
  }
  return text;
}

function isGenerated(file: string): boolean {
  try {
    const objects = parseKubeYaml(readText(file), file).map((o) => o.object as { metadata?: { labels?: Record<string, string> } });
    return objects.length > 0 && objects.every((o) => o.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE);
  } catch {
    return false;
  }
}

export function policyDrift(dir: string, result: SynthesisResult): DriftEntry[] {
  const expected = new Map<string, string>();
  for (const p of result.policies) expected.set(p.path, renderPolicies([p.policy]));
  expected.set(KUSTOMIZATION_FILE, renderKustomization(result.policies.map((p) => p.path)));

  const committed = new Set(yamlFilesUnder(dir));
  const drift: DriftEntry[] = [];
  for (const [path, want] of [...expected].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!committed.has(path)) {
      drift.push({ path, kind: 'missing', detail: `learn generates ${path} but it is not committed` });
      continue;
    }
    const have = canonicalCommitted(dir, path);
    if (have !== want) {
      const patch = createTwoFilesPatch(`committed/${path}`, `learned/${path}`, have, want, undefined, undefined, { context: 2 });
      drift.push({ path, kind: 'changed', detail: patch.split('\n').slice(2).join('\n').trimEnd() });
    }
  }
  for (const path of [...committed].sort()) {
    // Hand-written policies kept beside the learned ones (a default deny, say) are not drift.
    if (!expected.has(path) && isGenerated(join(dir, path))) drift.push({ path, kind: 'extra', detail: `${path} is committed but learn no longer generates it` });
  }
  return drift;
}
