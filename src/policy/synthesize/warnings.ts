/**
 * Warnings, counted by message: a million skipped flows make one line with a count, and a note
 * about one workload is said once however many edges repeat it. Listed sorted, so the output does
 * not depend on edge order.
 */
import type { Workload } from '../../cluster/lookup.js';
import { cmp } from './compare.js';

export class WarningLog {
  private readonly byMessage = new Map<string, number>();
  private readonly noted = new Set<string>();
  /** Counts `flows` more flows against `message` (0: a warning about no flow in particular). */
  add(message: string, flows = 0): void {
    this.byMessage.set(message, (this.byMessage.get(message) ?? 0) + flows);
  }
  /** Adds `message` the first time `key` is noted; later notes of the same key are ignored. */
  addOnce(key: string, message: string): void {
    if (this.noted.has(key)) return;
    this.noted.add(key);
    this.add(message);
  }
  list(): string[] {
    return [...this.byMessage.entries()]
      .sort(([a], [b]) => cmp(a, b))
      .map(([m, n]) => (n > 0 ? `${m} (${n} flow${n === 1 ? '' : 's'})` : m));
  }
}

/** How warnings name a workload: `Deployment shop/web`. */
export function workloadLabel(w: Workload): string {
  return `${w.kind} ${w.namespace}/${w.name}`;
}
