/**
 * The evidence about a staged policy, as data: how one node's entry grows with each would-be-denied
 * connect (exact counts, a bounded list of distinct flows), the summary every agent keeps beside the
 * entries (for `kubectl get`), and the question `promote` asks — was anything it would deny seen
 * within the window, and does the evidence cover the window at all?
 *
 * Pure functions over the status types: the live judge and the promote command share them.
 */
import { MAX_EXAMPLES, type EvidenceExample, type Gate, type NodeEvidence, type StagedNetworkPolicy, type StagedStatus } from './types.js';

/** One would-be-denied connect, as the judge saw it. */
export interface DenialObservation {
  source: string;
  peer: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  gate: Gate;
  /** A Date, or its ISO 8601 text (the judge has it already). */
  at: Date | string;
}

const later = (a: string | undefined, b: string): string => (a === undefined || a < b ? b : a);
const earlier = (a: string | undefined, b: string): string => (a === undefined || a > b ? b : a);

function sameFlow(e: EvidenceExample, o: DenialObservation): boolean {
  return e.source === o.source && e.peer === o.peer && e.port === o.port && (e.protocol ?? 'TCP') === o.protocol && e.gate === o.gate;
}

/** A fresh entry for a node that starts judging this generation of the spec. */
export function newNodeEvidence(node: string, generation: number | undefined, since: Date): NodeEvidence {
  return { node, ...(generation !== undefined ? { observedGeneration: generation } : {}), judgingSince: since.toISOString(), wouldDeny: 0 };
}

/**
 * Adds one would-be-denied connect to the entry, in place (the judge calls it per connect, so it
 * allocates only for a new flow), and returns it. The count is exact; examples keep distinct flows,
 * and when a new flow does not fit, the least recently seen is evicted and counted in examplesOmitted.
 */
export function recordDenial(entry: NodeEvidence, o: DenialObservation): NodeEvidence {
  const at = typeof o.at === 'string' ? o.at : o.at.toISOString();
  const examples = (entry.examples ??= []);
  const found = examples.find((e) => sameFlow(e, o));
  if (found) {
    found.count++;
    found.lastSeen = later(found.lastSeen, at);
    found.firstSeen = earlier(found.firstSeen, at);
  } else {
    if (examples.length >= MAX_EXAMPLES) {
      let oldest = 0;
      for (let i = 1; i < examples.length; i++) if (examples[i]!.lastSeen < examples[oldest]!.lastSeen) oldest = i;
      examples.splice(oldest, 1);
      entry.examplesOmitted = (entry.examplesOmitted ?? 0) + 1;
    }
    examples.push({ source: o.source, peer: o.peer, port: o.port, protocol: o.protocol, gate: o.gate, count: 1, firstSeen: at, lastSeen: at });
  }
  entry.wouldDeny = (entry.wouldDeny ?? 0) + 1;
  entry.firstSeen = earlier(entry.firstSeen, at);
  entry.lastSeen = later(entry.lastSeen, at);
  return entry;
}

/** The entry as written to status: a copy, its examples most recently seen first. */
export function entryForStatus(entry: NodeEvidence): NodeEvidence {
  const copy = structuredClone(entry);
  copy.examples?.sort((a, b) => (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0));
  return copy;
}

/** The entries that judged the current spec (others are evidence about a spec that is gone). */
export function currentEntries(staged: StagedNetworkPolicy): NodeEvidence[] {
  const generation = staged.metadata?.generation;
  return (staged.status?.nodes ?? []).filter((n) => generation === undefined || n.observedGeneration === generation);
}

/** status.wouldDeny and status.lastSeen: a pure function of the current entries. */
export function summarize(staged: StagedNetworkPolicy, nodes: NodeEvidence[] = currentEntries(staged)): Pick<StagedStatus, 'wouldDeny' | 'lastSeen'> {
  let wouldDeny = 0;
  let lastSeen: string | undefined;
  for (const n of nodes) {
    wouldDeny += n.wouldDeny ?? 0;
    if (n.lastSeen) lastSeen = later(lastSeen, n.lastSeen);
  }
  return { wouldDeny, ...(lastSeen ? { lastSeen } : {}) };
}

export interface QuietVerdict {
  /** True when nothing it would deny was seen in the window and the evidence covers the window. */
  quiet: boolean;
  /** Why not, one sentence each. */
  reasons: string[];
  /** Would-be-denied flows seen within the window (from the nodes' examples), most recent first. */
  flows: Array<EvidenceExample & { node: string }>;
  /** Would-be-denied connects of flows the bounded examples no longer list, on nodes that saw one in the window. */
  unlisted: number;
  /** Nodes judging the current spec, and since when some node has judged it (the earliest). */
  nodes: string[];
  judgedSince?: string;
  wouldDeny: number;
}

/**
 * `promote`'s question. With a window: no would-be-denied connect whose lastSeen falls within it,
 * and some node has judged the current spec for at least the whole window. Without a window: none
 * at all since the spec was staged, and at least one node has judged it.
 */
export function quietFor(staged: StagedNetworkPolicy, now: Date, windowMs?: number): QuietVerdict {
  const nodes = currentEntries(staged);
  const since = windowMs === undefined ? undefined : new Date(now.getTime() - windowMs).toISOString();
  const inWindow = (t: string | undefined): boolean => t !== undefined && (since === undefined || t >= since);
  const flows = nodes
    .flatMap((n) => (n.examples ?? []).filter((e) => inWindow(e.lastSeen)).map((e) => ({ ...e, node: n.node })))
    .sort((a, b) => (a.lastSeen < b.lastSeen ? 1 : a.lastSeen > b.lastSeen ? -1 : 0));
  const deniedNodes = nodes.filter((n) => inWindow(n.lastSeen));
  // Flows evicted from a node's bounded examples may fall in the window too: their connects are
  // the node's count minus what its examples hold, shown as unlisted rather than dropped.
  const unlisted = deniedNodes.reduce((s, n) => s + Math.max(0, (n.wouldDeny ?? 0) - (n.examples ?? []).reduce((t, e) => t + e.count, 0)), 0);
  const reasons: string[] = [];
  if (nodes.length === 0) {
    reasons.push('no agent has judged this policy yet (is the netpol-agent DaemonSet running?)');
  }
  if (deniedNodes.length > 0) {
    reasons.push(
      windowMs === undefined
        ? `the agents saw ${summarize(staged, nodes).wouldDeny} connect(s) it would deny since it was staged`
        : `the agents saw connects it would deny within the window (latest ${deniedNodes.map((n) => n.lastSeen!).sort().pop()})`,
    );
  }
  const judgedSince = nodes.map((n) => n.judgingSince).filter((t): t is string => t !== undefined).sort()[0];
  if (windowMs !== undefined && nodes.length > 0 && (judgedSince === undefined || judgedSince > since!)) {
    reasons.push(`the evidence does not cover the window: judged only since ${judgedSince ?? 'an unknown time'}, the window starts ${since}`);
  }
  return {
    quiet: reasons.length === 0,
    reasons,
    flows,
    unlisted,
    nodes: nodes.map((n) => n.node).sort(),
    ...(judgedSince ? { judgedSince } : {}),
    wouldDeny: summarize(staged, nodes).wouldDeny ?? 0,
  };
}
