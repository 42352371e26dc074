/**
 * A LearnModel whose rows and policies are not built from flows one by one but taken whole from a
 * snapshot of what was learned elsewhere: `learn --watch` re-learns the cluster-wide TrafficProfile
 * when it changes and shows the result on the same screen (and plain lines) as live learning.
 */
import type { FlowEdge } from '../../flows/edges.js';
import type { SynthesisResult } from '../../policy/synthesize/index.js';
import { LearnModel, type LearnModelOptions, type LearnRow, type PolicyPreview } from './learn-model.js';

/** What one re-learning produced: the rows to show, the connects they count, the policies or the error. */
export interface LearnSnapshot {
  rows: LearnRow[];
  connects: number;
  result?: SynthesisResult;
  error?: string;
}

function rowId(r: LearnRow): string {
  return `${r.workload}\u0000${r.peer}\u0000${r.proto}\u0000${r.ports}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class SnapshotLearnModel extends LearnModel {
  private current: LearnSnapshot = { rows: [], connects: 0 };
  private byId = new Map<string, LearnRow>();

  constructor(
    private readonly take: () => LearnSnapshot,
    opts: LearnModelOptions = {},
  ) {
    super(opts);
  }

  /** Takes a new snapshot; returns (and tells the session) its rows that are new or whose count or last-seen time changed. */
  update(): LearnRow[] {
    const next = this.take();
    const byId = new Map<string, LearnRow>();
    const changed: LearnRow[] = [];
    for (const r of next.rows) {
      const id = rowId(r);
      byId.set(id, r);
      const before = this.byId.get(id);
      if (!before || before.count !== r.count || before.lastSeen !== r.lastSeen) changed.push(r);
    }
    this.current = next;
    this.byId = byId;
    for (const fn of this.invalidated) fn(changed);
    return changed;
  }

  override get flows(): number {
    return this.current.connects;
  }

  override snapshot(filter = ''): LearnRow[] {
    const f = filter.toLowerCase();
    return this.current.rows
      .filter((r) => f === '' || r.workload.toLowerCase().includes(f) || r.peer.toLowerCase().includes(f) || r.kind.toLowerCase().includes(f))
      .sort((a, b) => cmp(a.workload, b.workload) || cmp(a.peer, b.peer) || cmp(a.proto, b.proto))
      .map((r) => ({ ...r }));
  }

  override preview(): PolicyPreview {
    if (!this.current.result) return { policies: [], error: this.current.error ?? 'nothing learned yet' };
    return this.compareWithOut(this.current.result);
  }

  /** A snapshot holds no flows. */
  override flowEdges(): FlowEdge[] {
    return [];
  }
}
