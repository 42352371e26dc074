/**
 * Policy names: one per workload, a valid DNS-1123 subdomain, and independent of the order in
 * which workloads were seen.
 */
import type { Workload } from '../../cluster/lookup.js';
import { workloadKey } from '../../cluster/workload.js';

/** DNS-1123 subdomain spelling of a name (workload names already are; this is a guard). */
export function policyNameFor(name: string): string {
  let out = name.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/\.{2,}/g, '.');
  out = out.replace(/^[^a-z0-9]+/, '').slice(0, 253).replace(/[^a-z0-9]+$/, '');
  return out === '' ? 'workload' : out;
}

/**
 * Policy names per namespace (workloadKey → name): the workload's name; when two workloads of
 * different kinds share a name in one namespace, each gets its kind as a suffix
 * (`web-deployment`, `web-statefulset`), so the result does not depend on which one came first.
 */
export function assignNames(workloads: Workload[]): Map<string, string> {
  const byName = new Map<string, Workload[]>();
  for (const w of workloads) {
    const k = `${w.namespace}/${policyNameFor(w.name)}`;
    byName.set(k, [...(byName.get(k) ?? []), w]);
  }
  const out = new Map<string, string>();
  for (const list of byName.values()) {
    for (const w of list) {
      const base = policyNameFor(w.name);
      out.set(workloadKey(w), list.length === 1 ? base : policyNameFor(`${base.slice(0, 240)}-${w.kind}`));
    }
  }
  return out;
}
