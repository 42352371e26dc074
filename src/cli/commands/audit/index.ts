/**
 * `netpol audit [-n NS|-A] [-l SEL] [--staged-only] [-o json]`: the live verdict stream of every
 * node agent (GET /v1/audit through pods/portforward, with the agents' client of
 * src/cli/shared/agent-client.ts), one line per
 * connection denied by an enforced NetworkPolicy, dropped by one (no answer), or that a staged
 * policy would deny — naming the policy and the gate. Agents that start later (new nodes) are
 * joined as they appear. Runs until --timeout or Ctrl-C.
 */
import http from 'node:http';
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadKubeconfig } from '../../../cluster/kubeconfig.js';
import { InputError } from '../../../errors.js';
import { AgentTunnel, AgentUnreachable, noAgentsError } from '../../shared/agent-client.js';
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

/** GET /v1/audit through one agent's tunnel: its lines, until the agent or the client ends the stream. */
function auditStream(tunnel: AgentTunnel, signal: AbortSignal): Promise<AsyncIterable<string>> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: tunnel.port, path: '/v1/audit', agent: false, signal }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => reject(new AgentUnreachable(tunnel.node, tunnel.pod, `GET /v1/audit: HTTP ${res.statusCode}: ${body.trim().slice(0, 300)}`)));
        return;
      }
      resolve(createInterface({ input: res, crlfDelay: Infinity }));
    });
    req.on('error', (e) => reject(e instanceof AgentUnreachable ? e : new AgentUnreachable(tunnel.node, tunnel.pod, e.message)));
  });
}

/** Every ready agent's /v1/audit (the daemon's client: src/cli/shared/agent-client.ts), the ones that appear later included. */
async function* portForwardDialer(kc: KubeConfig, signal: AbortSignal, onError: (m: string) => void): AsyncIterable<{ node: string; lines: AsyncIterable<string> }> {
  const { agentStates } = await import('../../../cluster/deploy.js');
  const open = new Set<string>();
  let first = true;
  while (!signal.aborted) {
    const { states } = await agentStates(kc, first);
    const ready = states.filter((s) => s.ready && s.pod !== undefined);
    if (first) {
      if (ready.length === 0) {
        throw noAgentsError(states.length > 0 ? states.map((s) => `${s.node}: ${s.why || 'no agent pod'}`) : ['the cluster has no nodes, or none runs an agent pod']);
      }
      for (const s of states.filter((x) => !x.ready)) onError(`node ${s.node}: not audited: ${s.why}`);
    }
    first = false;
    for (const s of ready) {
      if (open.has(s.pod!)) continue;
      open.add(s.pod!);
      const tunnel = await AgentTunnel.open(kc, s.node, s.pod!);
      signal.addEventListener('abort', () => void tunnel.close(), { once: true });
      try {
        const lines = await auditStream(tunnel, signal);
        yield {
          node: s.node,
          lines: (async function* () {
            try {
              yield* lines;
            } finally {
              open.delete(s.pod!);
              await tunnel.close();
            }
          })(),
        };
      } catch (err) {
        open.delete(s.pod!);
        await tunnel.close();
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
      // Said once per agent, as its stream is open: until then nothing it judges can reach this
      // client (the agents keep no backlog), so a user (or a script) knows from when it is covered.
      io.stderr.write(`streaming verdicts from the agent on node ${agent.node}\n`);
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
