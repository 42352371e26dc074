/**
 * The auditor: flows + compiled policies + cluster → one FlowAudit per flow. Verdicts depend only
 * on an edge's identity (source, destination address, port, protocol), so each distinct edge is
 * resolved and judged once and the result reused for every flow of that edge.
 */
import type { ClusterIndex } from '../cluster/lookup.js';
import { formatEndpoint, type EndpointName } from '../cluster/endpoint-notation.js';
import { edgeIdentity } from '../flows/edges.js';
import type { LocatedFlow } from '../flows/record.js';
import type { AuditSummary, FlowAudit } from './audit.js';
import { judge, type PolicySet } from './evaluate.js';
import { destinationNotation, resolveFlow, sourceName, type ResolvedFlow } from './traffic.js';
import type { GateResult } from './verdict.js';

type Judged = Omit<FlowAudit, 'id' | 'origin' | 'src' | 'count'>;

const NO_GATE: GateResult = { applies: false, isolated: false, isolatedBy: [], allowedBy: [], allowed: true };
/** The gates of an unjudged flow: not known to apply, and not passed — nothing was judged. */
const UNJUDGED_GATE: GateResult = { applies: false, isolated: false, isolatedBy: [], allowedBy: [], allowed: false };

export function judgeResolved(set: PolicySet, resolved: ResolvedFlow): Judged {
  if (resolved.unidentified !== undefined) {
    // Judging the addresses alone would call a pod an outside address: a false verdict either way.
    return { dst: destinationNotation(resolved), proto: resolved.flow.proto, verdict: 'unjudged', reason: resolved.unidentified, egress: UNJUDGED_GATE, ingress: UNJUDGED_GATE };
  }
  const judgement = judge(set, resolved);
  const shown = judgement.targets.find((t) => t.verdict.verdict === 'denied') ?? judgement.targets[0];
  return {
    dst: destinationNotation(resolved),
    proto: resolved.flow.proto,
    verdict: judgement.verdict,
    reason: resolved.identityNote !== undefined ? `${judgement.reason} (${resolved.identityNote})` : judgement.reason,
    egress: shown?.verdict.egress ?? NO_GATE,
    ingress: shown?.verdict.ingress ?? NO_GATE,
  };
}

export class Auditor {
  /** Per edge: its verdict and the source's name (the same for every flow of the edge). */
  private readonly cache = new Map<string, { judged: Judged; source: EndpointName }>();
  readonly audits: FlowAudit[] = [];
  readonly summary: AuditSummary = { total: 0, allowed: 0, denied: 0, unjudged: 0 };

  constructor(
    private readonly set: PolicySet,
    private readonly index: ClusterIndex,
  ) {}

  add(flow: LocatedFlow): FlowAudit {
    // Everything resolution reads, the source address and the destination's names included.
    const key = edgeIdentity(flow);
    let entry = this.cache.get(key);
    if (!entry) {
      const resolved = resolveFlow(flow, this.index);
      entry = { judged: judgeResolved(this.set, resolved), source: sourceName(resolved) };
      this.cache.set(key, entry);
    }
    const { judged, source } = entry;
    const audit: FlowAudit = { ...judged, src: formatEndpoint(source, flow.src.port ?? undefined), count: 1 };
    if (flow.id !== undefined) audit.id = flow.id;
    if (flow.origin) audit.origin = flow.origin;
    this.audits.push(audit);
    this.summary.total++;
    this.summary[judged.verdict]++;
    return audit;
  }

  /** Denied first (what the user must act on), then unjudged, then allowed, each group in input order. */
  sorted(): FlowAudit[] {
    return [
      ...this.audits.filter((a) => a.verdict === 'denied'),
      ...this.audits.filter((a) => a.verdict === 'unjudged'),
      ...this.audits.filter((a) => a.verdict === 'allowed'),
    ];
  }
}

export async function auditFlows(flows: AsyncIterable<LocatedFlow> | Iterable<LocatedFlow>, set: PolicySet, index: ClusterIndex): Promise<Auditor> {
  const auditor = new Auditor(set, index);
  for await (const f of flows) auditor.add(f);
  return auditor;
}
