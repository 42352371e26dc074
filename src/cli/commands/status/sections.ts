/**
 * More sections of `kubectl netpol status`, after the agents (e.g. the traffic profiles of branch
 * profile: count, size, oldest observation). A section reads what it needs through the user's
 * kubeconfig; its JSON goes under `sections.<name>` of -o json, its lines under a heading of its
 * own. Add one by appending to STATUS_SECTIONS.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { profilesServed } from '../../../cluster/profile/client.js';
import { profileSummary } from '../../../cluster/profile/summary.js';

export interface StatusSectionResult {
  /** Under `sections.<name>` in -o json. */
  json: unknown;
  /** The table's lines (a header first), printed under the section's title. */
  lines: string[];
  /** Something in it needs attention: the command exits 1 (as for an agent not ready). */
  problem?: boolean;
}

export interface StatusSection {
  name: string;
  title: string;
  collect(kc: KubeConfig): Promise<StatusSectionResult>;
}

/** The TrafficProfiles the agents wrote: how many, how big, the oldest observation, per namespace. */
const profiles: StatusSection = {
  name: 'profiles',
  title: 'Traffic profiles',
  async collect(kc) {
    if (!(await profilesServed(kc))) {
      return { json: { installed: false }, lines: ['trafficprofiles.netpol.io is not installed (kubectl netpol deploy installs it)'], problem: true };
    }
    const s = await profileSummary(kc);
    const cells: string[][] = [['NAMESPACE', 'PROFILES', 'EDGES', 'BYTES', 'OVERFLOW-CONNECTS', 'OLDEST-OBSERVATION']];
    const row = (ns: string, f: { count: number; edges: number; bytes: number; overflowConnects: number; oldestObservation?: string }): string[] =>
      [ns, String(f.count), String(f.edges), String(f.bytes), String(f.overflowConnects), f.oldestObservation ?? '-'];
    for (const ns of Object.keys(s.perNamespace).sort()) cells.push(row(ns, s.perNamespace[ns]!));
    cells.push(row('(all)', s));
    const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
    const lines = cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
    lines.push(`${s.workloads} workloads, ${s.nodes} nodes`);
    // A profile that overflowed its size bound lost edges' detail (counted, never silently cut): say so.
    return { json: { installed: true, ...s }, lines, problem: s.overflowConnects > 0 };
  },
};

export const STATUS_SECTIONS: StatusSection[] = [profiles];
