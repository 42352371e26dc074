/**
 * `netpol audit [-n NS|-A] [-l SEL] [--staged-only] [-o json]`: the live verdict stream of every
 * node agent (GET /v1/audit through pods/portforward, with the agents' client of
 * src/cli/shared/agent-client.ts), one line per
 * connection denied by an enforced NetworkPolicy, dropped by one (no answer), or that a staged
 * policy would deny — naming the policy and the gate. Agents that start later (new nodes) are
 * joined as they appear. A stream that breaks (a port-forward dropped) is reopened with since= the
 * last record's judging time, so what was judged in the gap is shown (once) from the agent's replay.
 * Runs until --timeout or Ctrl-C.
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
import { AUDIT_REPLAY_RECORDS, AUDIT_REPLAY_SECONDS } from '../../../daemon/audit-replay.js';
import type { AuditRecord } from '../../../daemon/judge-sink.js';
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

/**
 * One agent the command follows. open() is GET /v1/audit, with since= when resuming after a broken
 * stream; close() says the command gave up on it (it no longer answers): the dialer may find it,
 * or the pod that replaced it, again.
 */
export interface AuditAgent {
  node: string;
  open(since: Date | undefined, signal: AbortSignal): Promise<AsyncIterable<string>>;
  close(): Promise<void>;
}

/** How the command finds the agents (port-forward; tests may give their own). */
export type AuditDialer = (kc: KubeConfig, signal: AbortSignal, onError: (m: string) => void) => AsyncIterable<AuditAgent>;

const REDISCOVER_MS = 10_000;
/** After a broken stream: the pause before reopening it, and how many reopenings may fail in a row before the agent is left to rediscovery. */
const RECONNECT_MS = 1_000;
const RECONNECT_TRIES = 5;

/**
 * GET /v1/audit on a local port (an agent's tunnel): its lines, until the agent or the client ends
 * the stream; a stream cut in the middle (a port-forward dropped) throws from the iteration.
 */
export function openAuditStream(port: number, since: Date | undefined, signal: AbortSignal, unreachable: (detail: string) => Error): Promise<AsyncIterable<string>> {
  const path = since !== undefined ? `/v1/audit?since=${encodeURIComponent(since.toISOString())}` : '/v1/audit';
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, signal }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => reject(unreachable(`GET ${path}: HTTP ${res.statusCode}: ${body.trim().slice(0, 300)}`)));
        return;
      }
      // The iterator is made now: readline buffers lines for it only from then, and a resumed
      // stream's replay head comes with the response headers, before the caller iterates.
      const lines = createInterface({ input: res, crlfDelay: Infinity })[Symbol.asyncIterator]();
      resolve({ [Symbol.asyncIterator]: () => lines });
    });
    req.on('error', (e) => reject(e instanceof AgentUnreachable ? e : unreachable(e.message)));
  });
}

function sleep(ms: number, signal: AbortSignal, wake?: (w: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    // The abort listener goes with the sleep: the dialer sleeps every 10 s for the command's whole
    // life, and listeners left on the one signal pile up (Node warns at 11).
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    wake?.(done);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Every ready agent's /v1/audit (the daemon's client: src/cli/shared/agent-client.ts), the ones that appear later included. */
async function* portForwardDialer(kc: KubeConfig, signal: AbortSignal, onError: (m: string) => void): AsyncIterable<AuditAgent> {
  const { agentStates } = await import('../../../cluster/deploy.js');
  const open = new Set<string>();
  let first = true;
  let wake: (() => void) | undefined;
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
      const pod = s.pod!;
      if (open.has(pod)) continue;
      open.add(pod);
      const tunnel = await AgentTunnel.open(kc, s.node, pod);
      const closeOnAbort = (): void => void tunnel.close();
      signal.addEventListener('abort', closeOnAbort, { once: true });
      let streamed = false;
      yield {
        node: s.node,
        open: async (since, sig) => {
          const lines = await openAuditStream(tunnel.port, since, sig, (detail) => new AgentUnreachable(s.node, pod, detail));
          streamed = true;
          return lines;
        },
        close: async () => {
          signal.removeEventListener('abort', closeOnAbort);
          await tunnel.close();
          open.delete(pod);
          // One that streamed and broke: look for it (or its successor) soon, not at the next
          // round. One that never answered waits for the round, or its warning would repeat each second.
          if (streamed) setTimeout(() => wake?.(), RECONNECT_MS).unref?.();
        },
      };
    }
    await sleep(REDISCOVER_MS, signal, (w) => (wake = w));
  }
}

/** Where a node's stream resumes: the newest `judged` this command got from it, and the lines it got at that time. */
interface ResumePoint {
  judged?: string;
  lines: Set<string>;
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
  const startedAt = new Date();
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  io.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const timer = opts.timeout !== undefined ? setTimeout(() => stop.abort(), opts.timeout) : undefined;
  const readers: Promise<void>[] = [];
  const warn = (m: string): void => void io.stderr.write(`warning: ${m}\n`);
  const show = (r: AuditRecord): boolean => {
    if (!selects(filter, r)) return false;
    io.stdout.write(opts.output === 'json' ? `${JSON.stringify(r)}\n` : `${auditText(r)}\n`);
    return true;
  };
  const resumes = new Map<string, ResumePoint>();

  /** One stream of `node`'s agent; `since`: it was asked to replay from then (a reconnect). */
  const read = async (node: string, lines: AsyncIterable<string>, at: ResumePoint, since: Date | undefined): Promise<void> => {
    // Replayed records at the resume point's time may be ones already shown: the lines got then.
    const boundary = { judged: at.judged, lines: new Set(at.lines) };
    let n = 0;
    let replayLeft = since !== undefined ? -1 : 0; // -1: the replay head is still to come
    let replayed = 0;
    const replayDone = (): void => {
      io.stderr.write(`reconnected to the agent on node ${node}: replayed ${replayed} record(s) judged since ${since!.toISOString()}\n`);
    };
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      const decoded = decodeAuditLine(line);
      if (decoded.kind === 'replay') {
        if (replayLeft !== -1) {
          warn(`agent on ${node}: line ${n} of /v1/audit: a replay head where none was asked for`);
          continue;
        }
        const r = decoded.replay;
        if (!r.complete) {
          const keeps = r.keeps ? ` (it keeps its last ${r.keeps.records} audit records, for ${r.keeps.seconds} s)` : '';
          warn(`agent on ${node}: records judged between ${r.since} and ${r.from} may be missing${keeps}`);
        }
        replayLeft = r.records;
        if (replayLeft === 0) replayDone();
        continue;
      }
      if (decoded.kind === 'lost') warn(`agent on ${node}: ${decoded.lost} audit record(s) lost (this client read too slowly)`);
      else if (decoded.kind === 'malformed') warn(`agent on ${node}: line ${n} of /v1/audit: ${decoded.problem}`);
      else {
        if (replayLeft === -1) {
          // An agent from before since= existed ignores it: say what that means, once.
          warn(`agent on ${node}: it does not replay (an older agent): records judged while the stream was broken may be missing`);
          replayLeft = 0;
        }
        const judged = decoded.record.judged ?? decoded.record.ts;
        const duplicate = replayLeft > 0 && judged === boundary.judged && boundary.lines.has(line);
        if (at.judged === undefined || judged > at.judged) {
          at.judged = judged;
          at.lines = new Set([line]);
        } else if (judged === at.judged) at.lines.add(line);
        if (!duplicate && show(decoded.record) && replayLeft > 0) replayed++;
        if (replayLeft > 0 && --replayLeft === 0) replayDone();
      }
    }
  };

  /** Follows one agent: reopens a broken stream with since= where it broke, until the agent is gone or the command stops. */
  const follow = async (agent: AuditAgent): Promise<void> => {
    const known = resumes.get(agent.node);
    const at = known ?? { lines: new Set<string>() };
    // A node streamed before (its agent pod was replaced) resumes too; a node is known once its
    // stream opened (a first open that failed is tried afresh next round, and announced then).
    let resuming = known !== undefined;
    let failures = 0;
    try {
      while (!stop.signal.aborted) {
        const since = resuming ? (at.judged !== undefined ? new Date(at.judged) : startedAt) : undefined;
        let lines: AsyncIterable<string>;
        try {
          lines = await agent.open(since, stop.signal);
        } catch (err) {
          if (stop.signal.aborted) return;
          if (!resuming || ++failures > RECONNECT_TRIES) {
            warn((err as Error).message);
            return;
          }
          await sleep(RECONNECT_MS * failures, stop.signal);
          continue;
        }
        failures = 0;
        resumes.set(agent.node, at);
        // Said once per agent, as its stream is open: until then nothing it judges can reach this
        // client, so a user (or a script) knows from when it is covered.
        if (!resuming) io.stderr.write(`streaming verdicts from the agent on node ${agent.node}\n`);
        try {
          await read(agent.node, lines, at, since);
          // The agent ended the stream (it is stopping): the dialer finds its successor.
          return;
        } catch (err) {
          if (stop.signal.aborted) return;
          warn(`agent on ${agent.node}: ${(err as Error).message}; reconnecting`);
        }
        resuming = true;
        await sleep(RECONNECT_MS, stop.signal);
      }
    } finally {
      await agent.close();
    }
  };

  try {
    for await (const agent of (io.dial ?? portForwardDialer)(resolved.kc, stop.signal, warn)) {
      readers.push(follow(agent).catch((err: unknown) => warn(`agent on ${agent.node}: ${(err as Error).message}`)));
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
        '  netpol audit -n shop -l app=web -o json --timeout 5m\n' +
        '\nA stream that breaks (a port-forward dropped) is reopened within seconds, and the agent replays\n' +
        `what it judged in the gap (it keeps its last ${AUDIT_REPLAY_RECORDS} records, for ${AUDIT_REPLAY_SECONDS / 60} minutes); records\n` +
        'already shown are not shown again. stderr says "reconnected ...: replayed N record(s)", and warns\n' +
        'when the gap reaches further back than the agent keeps (records may be missing).',
    )
    .action(async (o: AuditOptions) => {
      process.exitCode = await runAudit(o, { stdout: process.stdout, stderr: process.stderr });
    });
}
