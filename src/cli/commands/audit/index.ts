/**
 * `netpol audit [-n NS|-A] [-l SEL] [--staged-only] [-o json]`: the live verdict stream of every
 * node agent (GET /v1/audit through port-forward, src/cluster/agent-portforward.ts), one line per
 * connection denied by an enforced NetworkPolicy, dropped by one (no answer), or that a staged
 * policy would deny — naming the policy and the gate. Agents that start later (new nodes) are
 * joined as they appear. Runs until --timeout or Ctrl-C.
 */
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeconfig } from '../../../cluster/kubeconfig.js';
import { EnvironmentError, InputError } from '../../../errors.js';
import { compileSelector, parseSelector } from '../../../policy/selector.js';
import { addClusterFlags, type ClusterFlags } from '../../shared/cluster-flags.js';
import { DURATION_SYNTAX, parseDuration } from '../../shared/duration.js';
import { auditText, decodeAuditLine, selects, type AuditFilter } from './lines.js';

export interface AuditOptions extends ClusterFlags {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  stagedOnly?: boolean;
  output: 'text' | 'json';
  /** Milliseconds. */
  timeout?: number;
}

/** How the command reaches one agent's stream (port-forward; tests may give their own). */
export type AuditDialer = (kc: KubeConfig, signal: AbortSignal, onError: (m: string) => void) => AsyncIterable<{ node: string; lines: AsyncIterable<string> }>;

const REDISCOVER_MS = 10_000;

/** Every agent pod's /v1/audit, the ones that appear later included. */
async function* portForwardDialer(kc: KubeConfig, signal: AbortSignal, onError: (m: string) => void): AsyncIterable<{ node: string; lines: AsyncIterable<string> }> {
  const { AgentTunnel, agentPods, AGENT_NAMESPACE, AGENT_SELECTOR } = await import('../../../cluster/agent-portforward.js');
  const open = new Set<string>();
  let first = true;
  while (!signal.aborted) {
    const pods = await agentPods(kc);
    if (first && pods.length === 0) {
      throw new EnvironmentError(`no running netpol agent pods (${AGENT_SELECTOR}) in namespace ${AGENT_NAMESPACE}`, 'kubectl netpol deploy');
    }
    first = false;
    for (const pod of pods) {
      if (open.has(pod.name)) continue;
      open.add(pod.name);
      const tunnel = await AgentTunnel.open(kc, pod, onError);
      signal.addEventListener('abort', () => tunnel.close(), { once: true });
      try {
        const res = await tunnel.get('/v1/audit', signal);
        const lines = createInterface({ input: res, crlfDelay: Infinity });
        res.on('close', () => {
          open.delete(pod.name);
          tunnel.close();
        });
        yield { node: pod.node, lines };
      } catch (err) {
        open.delete(pod.name);
        tunnel.close();
        if (!signal.aborted) onError((err as Error).message);
      }
    }
    await new Promise((resolve) => {
      const t = setTimeout(resolve, REDISCOVER_MS);
      signal.addEventListener('abort', () => (clearTimeout(t), resolve(undefined)), { once: true });
    });
  }
}

export async function runAudit(
  opts: AuditOptions,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; signal?: AbortSignal; dial?: AuditDialer },
): Promise<number> {
  if (opts.namespace && opts.allNamespaces) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  const resolved = loadKubeconfig({ kubeconfig: opts.kubeconfig, context: opts.context, namespace: opts.namespace });
  const filter: AuditFilter = {
    ...(opts.allNamespaces ? {} : { namespace: resolved.namespace }),
    ...(opts.selector !== undefined ? { selector: compileSelector(parseSelector(opts.selector, '--selector')) } : {}),
    ...(opts.stagedOnly ? { stagedOnly: true } : {}),
  };
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  io.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const timer = opts.timeout !== undefined ? setTimeout(() => stop.abort(), opts.timeout) : undefined;
  const readers: Promise<void>[] = [];
  const warn = (m: string): void => void io.stderr.write(`warning: ${m}\n`);
  const read = async (node: string, lines: AsyncIterable<string>): Promise<void> => {
    let n = 0;
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      const decoded = decodeAuditLine(line);
      if (decoded.kind === 'lost') warn(`agent on ${node}: ${decoded.lost} audit record(s) lost (this client read too slowly)`);
      else if (decoded.kind === 'malformed') warn(`agent on ${node}: line ${n} of /v1/audit: ${decoded.problem}`);
      else if (selects(filter, decoded.record)) io.stdout.write(opts.output === 'json' ? `${JSON.stringify(decoded.record)}\n` : `${auditText(decoded.record)}\n`);
    }
  };
  try {
    for await (const agent of (io.dial ?? portForwardDialer)(resolved.kc, stop.signal, warn)) {
      readers.push(read(agent.node, agent.lines).catch((err: unknown) => warn(`agent on ${agent.node}: ${(err as Error).message}`)));
      if (stop.signal.aborted) break;
    }
    await Promise.all(readers);
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onSigint);
  }
  return 0;
}

export function auditCommand(): Command {
  const cmd = new Command('audit')
    .description(
      "live verdicts from the node agents: one line per connection denied by an enforced NetworkPolicy, dropped by one (it got no answer), or that a staged policy would deny, naming the policy and the gate (egress/ingress)",
    )
    .option('-n, --namespace <ns>', "connections with an end in this namespace (default: the context's)")
    .option('-A, --all-namespaces', 'connections of every namespace')
    .option('-l, --selector <selector>', 'connections with an end (pod) matching this label selector')
    .option('--staged-only', 'only what staged policies would deny (kubectl netpol stage)')
    .addOption(new Option('-o, --output <format>', 'text or json (one object per line)').choices(['text', 'json']).default('text'))
    .option('--timeout <duration>', `stop after this long (${DURATION_SYNTAX}; default: until Ctrl-C)`, parseDuration);
  return addClusterFlags(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  netpol audit -n shop\n' +
        '  netpol audit -A --staged-only\n' +
        '  netpol audit -n shop -l app=web -o json --timeout 5m',
    )
    .action(async (o: AuditOptions) => {
      process.exitCode = await runAudit(o, { stdout: process.stdout, stderr: process.stderr });
    });
}
