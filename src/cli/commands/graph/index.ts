/**
 * `netpol graph`: who talks to whom, as Mermaid (for Markdown), DOT (Graphviz) or one self-contained
 * HTML page (inline SVG, zoom/pan, search). With --policies, each edge is coloured by the verdict
 * those policies give its connections.
 */
import { writeReportFile } from '../../output/report-file.js';
import { Command, Option } from 'commander';
import { InputError } from '../../../errors.js';
import { EdgeAggregator } from '../../../flows/edges.js';
import { readFlows, totalBytes } from '../../../flows/jsonl.js';
import { compilePolicies, evaluate } from '../../../policy/evaluate.js';
import { loadPolicies } from '../../../policy/load.js';
import { renderDot } from './dot.js';
import { renderHtml } from './html.js';
import { renderMermaid } from './mermaid.js';
import { buildGraph, type ConnectivityGraph, type TrafficJudge } from './model.js';
import { openClusterView } from '../../shared/inputs.js';
import { collect } from '../../shared/options.js';
import { createProgress } from '../../views/progress.js';
import { addRecordingViewInputs } from '../../shared/input-options.js';

export const GRAPH_FORMATS = ['mermaid', 'dot', 'html', 'json'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

interface GraphFlags {
  flows?: string[];
  cluster?: string[];
  policies?: string[];
  namespace?: string;
  output?: GraphFormat;
  out?: string;
}

/** Reads, aggregates and resolves: the graph model for the given inputs. */
export async function loadGraph(flags: Pick<GraphFlags, 'flows' | 'cluster' | 'policies' | 'namespace'>): Promise<ConnectivityGraph> {
  if (!flags.flows || flags.flows.length === 0) throw new InputError('--flows', 'at least one flow recording is required');
  const view = await openClusterView({ cluster: flags.cluster }, 'snapshot');
  try {
    let judge: TrafficJudge | undefined;
    if (flags.policies && flags.policies.length > 0) {
      const set = compilePolicies(loadPolicies(flags.policies));
      judge = (t) => evaluate(set, t).verdict;
    }
    const agg = new EdgeAggregator();
    const progress = createProgress(totalBytes(flags.flows));
    try {
      for await (const flow of readFlows(flags.flows, { onProgress: (p) => progress.update(p) })) agg.add(flow);
    } finally {
      progress.done();
    }
    return buildGraph(agg.result(), view.index(), { ...(judge ? { judge } : {}), ...(flags.namespace ? { namespace: flags.namespace } : {}) });
  } finally {
    await view.close();
  }
}

export function renderGraph(graph: ConnectivityGraph, format: GraphFormat, subtitle?: string): string {
  switch (format) {
    case 'mermaid':
      return renderMermaid(graph);
    case 'dot':
      return renderDot(graph);
    case 'html':
      return renderHtml(graph, subtitle ? { subtitle } : {});
    case 'json':
      return JSON.stringify(graph, null, 2) + '\n';
  }
}

/** The format from -o, else from the --out file's extension, else mermaid. */
function formatFor(flags: GraphFlags): GraphFormat {
  if (flags.output) return flags.output;
  const ext = flags.out?.toLowerCase().match(/\.([a-z]+)$/)?.[1];
  if (ext === 'html' || ext === 'htm') return 'html';
  if (ext === 'dot' || ext === 'gv') return 'dot';
  if (ext === 'json') return 'json';
  return 'mermaid';
}

export function graphCommand(): Command {
  const cmd = new Command('graph').description('Draw who talks to whom: workloads by namespace, outside peers, ports and counts; coloured allowed/denied with --policies');
  return addRecordingViewInputs(cmd, 'flow recordings (JSONL, .gz ok, - for stdin); repeatable', 'NetworkPolicy files or directories: colour edges by their verdict')
    .option('-n, --namespace <ns>', 'only edges with an end in this namespace')
    .addOption(new Option('-o, --output <format>', 'mermaid, dot, html or json (default: from --out\'s extension, else mermaid)').choices([...GRAPH_FORMATS]))
    .option('--out <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      `
Examples:
  # A Mermaid flowchart for a pull request or README
  netpol graph --flows flows.jsonl --cluster cluster.yaml > graph.mmd

  # One self-contained HTML page (zoom, pan, search), edges coloured by the committed policies
  netpol graph --flows flows.jsonl --cluster cluster.yaml --policies policies/ --out graph.html

  # Graphviz
  netpol graph --flows flows.jsonl --cluster cluster.yaml -o dot | dot -Tsvg > graph.svg`,
    )
    .action(async (flags: GraphFlags) => {
      const format = formatFor(flags);
      const graph = await loadGraph(flags);
      const subtitle = [`flows ${flags.flows!.join(', ')}`, `cluster ${(flags.cluster ?? []).join(', ')}`, ...(flags.policies ? [`policies ${flags.policies.join(', ')}`] : [])].join(' · ');
      const text = renderGraph(graph, format, subtitle);
      if (flags.out) {
        try {
          writeReportFile(flags.out, text);
        } catch (err) {
          throw new InputError(flags.out, `cannot write: ${(err as Error).message}`);
        }
        process.stderr.write(`wrote ${flags.out}: ${graph.nodes.length} nodes, ${graph.edges.length} edges\n`);
      } else {
        process.stdout.write(text);
      }
    });
}
