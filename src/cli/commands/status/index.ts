/**
 * `kubectl netpol status`: the netpol agents per node — pod, ready, version, events per second,
 * events lost in the kernel, connects never attributed, stream clients, and each sink's figures
 * (backlog, lost, …) — read from each agent's /v1/status through pods/portforward; a node without
 * a ready agent is listed with the reason from its pod's status. Then the sections of
 * ./sections.ts. Exit 0 when every agent is ready and answered, 1 when one is not, 3 when no agent
 * is deployed.
 */
import { Command, Option } from 'commander';
import { agentStates, AGENT_DAEMONSET, AGENT_NAMESPACE, type AgentState } from '../../../cluster/deploy.js';
import { loadKubeconfig } from '../../../cluster/kubeconfig.js';
import type { AgentStatus } from '../../../daemon/protocol.js';
import type { StatusFigures } from '../../../daemon/sink.js';
import { EnvironmentError } from '../../../errors.js';
import { AgentTunnel } from '../../shared/agent-client.js';
import { STATUS_SECTIONS } from './sections.js';

interface StatusFlags {
  output: 'table' | 'json';
  kubeconfig?: string;
  context?: string;
}

export interface AgentRow {
  node: string;
  pod: string | null;
  ready: boolean;
  /** Why the agent is not ready, or could not be asked. */
  reason?: string;
  status?: AgentStatus;
}

async function askAgent(kc: Parameters<typeof AgentTunnel.open>[0], s: AgentState): Promise<AgentRow> {
  if (!s.pod || !s.ready) return { node: s.node, pod: s.pod ?? null, ready: false, reason: s.why || 'not ready' };
  let tunnel: AgentTunnel | undefined;
  try {
    tunnel = await AgentTunnel.open(kc, s.node, s.pod);
    const status = await tunnel.status();
    return { node: s.node, pod: s.pod, ready: status.ready, status, ...(status.ready ? {} : { reason: status.reasons.join('; ') }) };
  } catch (err) {
    return { node: s.node, pod: s.pod, ready: false, reason: `cannot read its status: ${(err as Error).message}` };
  } finally {
    await tunnel?.close();
  }
}

function figures(f: StatusFigures): string {
  return Object.entries(f)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** The agents table: one line per node, columns padded to their widest cell. */
export function agentTable(rows: AgentRow[]): string[] {
  const header = ['NODE', 'AGENT', 'READY', 'VERSION', 'EVENTS/S', 'EVENTS', 'LOST', 'UNRESOLVED', 'CLIENTS', 'SINKS / REASON'];
  const cells = rows.map((r) => {
    const s = r.status;
    const sinks = s ? Object.entries(s.sinks).map(([name, f]) => `${name}: ${figures(f)}`).join('; ') : '';
    return [
      r.node,
      r.pod ?? '-',
      r.ready ? 'true' : 'false',
      s?.version ?? '-',
      s ? String(s.events.perSecond) : '-',
      s ? String(s.events.total) : '-',
      s ? String(s.events.kernelLost) : '-',
      s ? String(s.events.unresolved) : '-',
      s ? String(s.subscribers) : '-',
      [r.reason, sinks].filter(Boolean).join(' | '),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...cells.map(line)];
}

export function statusCommand(): Command {
  return new Command('status')
    .summary('the netpol agents per node: ready, version, events/s, lost, backlog (through the API server)')
    .description(
      'Shows every node\'s netpol agent (DaemonSet netpol-system/netpol-agent): its pod, whether it is ready,\n' +
        'its version, events per second over the last minute, events read, events lost in the kernel, connects\n' +
        'from containers the cluster never reported (UNRESOLVED), stream clients, and each sink\'s figures. The\n' +
        'figures come from each agent\'s /v1/status through pods/portforward (your RBAC); a node without a ready\n' +
        'agent shows why (its pod\'s status). Exit 0 when every agent is ready, 1 when one is not, 3 when none is deployed.',
    )
    .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
    .option('--kubeconfig <file>', 'kubeconfig (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .addHelpText('after', '\nExamples:\n  netpol status\n  netpol status -o json --context prod')
    .action(async (flags: StatusFlags) => {
      const { kc } = loadKubeconfig({ kubeconfig: flags.kubeconfig, context: flags.context });
      const { ds, states } = await agentStates(kc, true);
      if (!ds) throw new EnvironmentError(`the netpol agents are not deployed (no daemonset ${AGENT_NAMESPACE}/${AGENT_DAEMONSET})`, 'kubectl netpol deploy installs them');
      const rows = await Promise.all(states.map((s) => askAgent(kc, s)));
      const sections = await Promise.all(STATUS_SECTIONS.map(async (s) => ({ section: s, result: await s.collect(kc) })));
      const problem = rows.some((r) => !r.ready) || sections.some((s) => s.result.problem);
      if (flags.output === 'json') {
        const doc = { agents: rows, sections: Object.fromEntries(sections.map((s) => [s.section.name, s.result.json])) };
        process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
      } else {
        const lines = agentTable(rows);
        for (const { section, result } of sections) lines.push('', `${section.title}:`, ...result.lines);
        process.stdout.write(lines.join('\n') + '\n');
      }
      process.exitCode = problem ? 1 : 0;
    });
}
