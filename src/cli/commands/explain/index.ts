/**
 * `netpol explain`: "which policy dropped this?" For recorded flows (by id, by line, or every
 * denied one) or a hypothetical connection (--src/--dst), each gate, each policy selecting the pod
 * on that side, each rule and why it matched or not. Exit 0 when everything explained is allowed,
 * 1 when something is denied (like diff), 2 on bad input.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { ClusterIndex } from '../../../cluster/lookup.js';
import { parseEndpoint } from '../../../cluster/endpoint-notation.js';
import { canonicalIp } from '../../../flows/ip.js';
import { InputError } from '../../../errors.js';
import { edgeIdentity } from '../../../flows/edges.js';
import { readFlows } from '../../../flows/jsonl.js';
import { PROTOCOLS, type FlowRecord, type LocatedFlow, type Protocol } from '../../../flows/record.js';
import { compilePolicies, type PolicySet } from '../../../policy/evaluate.js';
import { explainFlow, type FlowExplanation } from '../../../policy/explain.js';
import { loadPolicies } from '../../../policy/load.js';
import { resolveFlow } from '../../../policy/traffic.js';
import { openClusterView } from '../../shared/inputs.js';
import { collect } from '../../shared/options.js';
import { explanationText } from '../../shared/explanation-text.js';
import { addRecordingViewInputs } from '../../shared/input-options.js';

interface ExplainFlags {
  flows?: string[];
  cluster?: string[];
  policies?: string[];
  id?: string;
  line?: string;
  src?: string;
  dst?: string;
  proto: Protocol;
  all?: boolean;
  output: 'text' | 'json';
}

/** Which recorded flows to explain. */
export type FlowSelection =
  | { kind: 'id'; id: string }
  | { kind: 'line'; file?: string; line: number }
  | { kind: 'denied' }
  | { kind: 'all' };

function parseLine(value: string): { file?: string; line: number } {
  const m = /^(?:(.+):)?(\d+)$/.exec(value);
  if (!m || Number(m[2]) < 1) throw new InvalidArgumentError('expected a line number N or FILE:N');
  return m[1] !== undefined ? { file: m[1], line: Number(m[2]) } : { line: Number(m[2]) };
}

/**
 * A flow record for `--src X --dst Y:PORT`: pods and Services by name (their addresses from the
 * cluster), raw addresses as given.
 */
export function hypotheticalFlow(src: string, dst: string, proto: Protocol, index: ClusterIndex): LocatedFlow {
  const s = parseEndpoint(src) ?? parseEndpoint(`r/${src}`);
  if (!s) throw new InputError('--src', `not an endpoint: ${src} (use p/<ns>/<pod>, r/<ip> or an IP address)`);
  const d = parseEndpoint(dst) ?? parseEndpoint(`r/${dst}`);
  if (!d || d.port === undefined) throw new InputError('--dst', `not an endpoint with a port: ${dst} (use p/<ns>/<pod>:<port>, s/<ns>/<svc>:<port>, r/<ip>:<port> or <ip>:<port>)`);
  let flowSrc: FlowRecord['src'];
  if (s.name.kind === 'pod') {
    const pod = index.pod(s.name.namespace, s.name.name);
    if (!pod) throw new InputError('--src', `no pod ${s.name.namespace}/${s.name.name} in the cluster snapshot`);
    flowSrc = { namespace: s.name.namespace, pod: s.name.name, ...(pod.status?.podIP ? { ip: pod.status.podIP } : {}) };
  } else if (s.name.kind === 'raw') {
    flowSrc = { ip: canonicalIp(s.name.ip) };
  } else {
    throw new InputError('--src', 'a Service never opens connections; give the pod (p/<ns>/<pod>) or an address');
  }
  if (s.port !== undefined) flowSrc.port = s.port;
  let ip: string;
  const extra: Record<string, string> = {};
  if (d.name.kind === 'pod') {
    const pod = index.pod(d.name.namespace, d.name.name);
    if (!pod?.status?.podIP) throw new InputError('--dst', `no pod ${d.name.namespace}/${d.name.name} with an IP in the cluster snapshot`);
    ip = pod.status.podIP;
  } else if (d.name.kind === 'service') {
    const svc = index.service(d.name.namespace, d.name.name);
    const clusterIP = svc?.spec?.clusterIP;
    if (!svc || !clusterIP || clusterIP === 'None') throw new InputError('--dst', `no Service ${d.name.namespace}/${d.name.name} with a ClusterIP in the cluster snapshot`);
    ip = clusterIP;
    extra.namespace = d.name.namespace;
    extra.service = d.name.name;
  } else {
    ip = canonicalIp(d.name.ip);
  }
  return { v: 1, proto, src: flowSrc, dst: { ip, port: d.port, ...extra } };
}

function selects(sel: FlowSelection, flow: LocatedFlow, firstFile: string | undefined): boolean {
  switch (sel.kind) {
    case 'id':
      return flow.id === sel.id;
    case 'line':
      return flow.origin?.line === sel.line && (flow.origin.file === (sel.file ?? firstFile));
    default:
      return true;
  }
}

/** Explains the selected recorded flows, one explanation per distinct edge (with how many flows it stands for). */
export async function explainRecorded(
  files: string[],
  sel: FlowSelection,
  set: PolicySet,
  index: ClusterIndex,
): Promise<{ explanation: FlowExplanation; count: number }[]> {
  const byEdge = new Map<string, { explanation: FlowExplanation; count: number }>();
  const allowedEdges = new Set<string>();
  for await (const flow of readFlows(files)) {
    if (!selects(sel, flow, files[0])) continue;
    const key = sel.kind === 'id' || sel.kind === 'line' ? `${flow.origin?.file}:${flow.origin?.line}` : edgeIdentity(flow);
    if (allowedEdges.has(key)) continue;
    const seen = byEdge.get(key);
    if (seen) {
      seen.count++;
      continue;
    }
    const explanation = explainFlow(set, resolveFlow(flow, index));
    if (sel.kind === 'denied' && explanation.verdict === 'allowed') {
      allowedEdges.add(key);
      continue;
    }
    byEdge.set(key, { explanation, count: 1 });
    if (sel.kind === 'line') break;
  }
  return [...byEdge.values()];
}

export async function runExplain(flags: ExplainFlags): Promise<number> {
  const hypothetical = flags.src !== undefined || flags.dst !== undefined;
  if (hypothetical && (flags.src === undefined || flags.dst === undefined)) throw new InputError('--src/--dst', 'give both --src and --dst');
  const chosen = [flags.id !== undefined, flags.line !== undefined, hypothetical, flags.all === true].filter(Boolean).length;
  if (chosen > 1) throw new InputError('explain', 'choose one of --id, --line, --src/--dst and --all');
  if (!hypothetical && (!flags.flows || flags.flows.length === 0)) throw new InputError('--flows', 'give the recording the flow is in (or --src/--dst for a hypothetical connection)');
  const view = await openClusterView({ cluster: flags.cluster }, 'snapshot');
  try {
    const index = view.index();
    // Like diff: the given policies, else the snapshot's own.
    const policies = flags.policies && flags.policies.length > 0 ? loadPolicies(flags.policies) : index.networkPolicies();
    const set = compilePolicies(policies);
    let results: { explanation: FlowExplanation; count: number }[];
    if (hypothetical) {
      results = [{ explanation: explainFlow(set, resolveFlow(hypotheticalFlow(flags.src!, flags.dst!, flags.proto, index), index)), count: 1 }];
    } else {
      const sel: FlowSelection =
        flags.id !== undefined ? { kind: 'id', id: flags.id } : flags.line !== undefined ? { kind: 'line', ...parseLine(flags.line) } : flags.all ? { kind: 'all' } : { kind: 'denied' };
      results = await explainRecorded(flags.flows!, sel, set, index);
      if (results.length === 0 && sel.kind !== 'denied') {
        const what = sel.kind === 'id' ? `no flow with id ${sel.id}` : sel.kind === 'line' ? `no flow at line ${sel.line} of ${sel.file ?? flags.flows![0]}` : 'no flows';
        throw new InputError('explain', what);
      }
    }
    if (flags.output === 'json') {
      process.stdout.write(JSON.stringify({ flows: results.map((r) => ({ ...r.explanation, count: r.count })) }, null, 2) + '\n');
    } else if (results.length === 0) {
      process.stdout.write('nothing is denied: every recorded flow is allowed by these policies\n');
    } else {
      process.stdout.write(results.map((r) => explanationText(r.explanation, r.count)).join('\n'));
    }
    return results.some((r) => r.explanation.verdict === 'denied') ? 1 : 0;
  } finally {
    await view.close();
  }
}

export function explainCommand(): Command {
  const cmd = new Command('explain').description("Say which policy dropped a flow: each gate, each policy selecting the pod, each rule and why it matched or not");
  return addRecordingViewInputs(cmd, 'flow recordings (JSONL); repeatable', "NetworkPolicy files or directories (default: the snapshot's own)")
    .option('--id <id>', 'explain the flow with this id')
    .option('--line <[file:]n>', 'explain the flow on this line (of the first --flows file unless named)')
    .option('--src <endpoint>', 'hypothetical connection from p/<ns>/<pod> or an address (with --dst; no recording needed)')
    .option('--dst <endpoint:port>', 'hypothetical connection to p/<ns>/<pod>:<port>, s/<ns>/<svc>:<port> or <ip>:<port>')
    .addOption(new Option('--proto <proto>', 'protocol of the hypothetical connection').choices([...PROTOCOLS]).default('TCP'))
    .option('--all', 'explain every recorded flow (one per distinct connection), not only the denied ones')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
With no --id, --line, --src/--dst or --all, every denied flow is explained.

Examples:
  # Why is the seed's third connection denied?
  netpol explain --flows fixtures/demo/flows-later.jsonl --cluster fixtures/demo/cluster.yaml --policies policies/ --id seed-3

  # The flow on line 7
  netpol explain --flows flows.jsonl --cluster cluster.yaml --policies policies/ --line 7

  # Would web reach the api Service on port 80? (no recording needed)
  netpol explain --cluster cluster.yaml --policies policies/ --src p/shop/web-7c9d8f6b5-abcde --dst s/shop/api:80 -o json`,
    )
    .action(async (flags: ExplainFlags) => {
      process.exitCode = await runExplain(flags);
    });
}
