/**
 * `netpol probe` (like cyclonus' probe): real TCP connects between the pods in scope (-n/-A/-l) on
 * the ports given, and to outside addresses (--to), next to netpol's predicted verdict for each —
 * by the cluster's NetworkPolicies, or by --policies files (applied nowhere). Prints one matrix per
 * port (observed/predicted), then every disagreement; exit 1 when there is one. -o json for machines.
 *
 * The connects are made from inside each source pod through pod exec (--via exec, the default), or
 * from a short-lived probe pod per source with the source's namespace, labels and node (--via
 * pods): src/cluster/probe.ts. A pod is not probed against itself (NetworkPolicy never applies there).
 */
import { DURATION_SYNTAX, parseDurationSeconds } from '../../shared/duration.js';
import { addKubeconfigFileFlags } from '../../shared/cluster-flags.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { V1Pod } from '../../../cluster/objects.js';
import { DEFAULT_PROBE_IMAGE } from '../../../cluster/probe.js';
import { InputError } from '../../../errors.js';
import { compilePolicies, evaluate } from '../../../policy/evaluate.js';
import { loadPolicies } from '../../../policy/load.js';
import { compileSelector, parseSelector } from '../../../policy/selector.js';
import { podEndpoint, type Endpoint } from '../../../policy/traffic.js';
import type { Verdict } from '../../../policy/verdict.js';
import { collect } from '../../shared/options.js';

export interface ProbeOptions {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  ports: number[];
  to: Array<{ ip: string; port?: number }>;
  policies?: string[];
  timeout: number;
  output: 'table' | 'json';
  kubeconfig?: string;
  context?: string;
  /** exec: from inside each source pod (pod exec); pods: from a probe pod standing in for each source. */
  via?: 'exec' | 'pods';
  /** The probe pods' image (--via pods). */
  probeImage?: string;
  /** How long a probe pod may take to start, in seconds (--via pods). */
  probePodTimeout?: number;
}

export interface ProbeRow {
  src: string;
  dst: string;
  port: number;
  observed: 'reachable' | 'blocked';
  detail: string;
  predicted: 'allowed' | 'denied';
  agree: boolean;
  why: string;
  /** --via pods: the probe pod that made the connect in the source's stead. */
  probePod?: string;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port (1-65535)`);
  return n;
}

function outside(value: string, previous: Array<{ ip: string; port?: number }> = []): Array<{ ip: string; port?: number }> {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d+))?$/.exec(value);
  if (!m || m[1]!.split('.').some((o) => Number(o) > 255)) throw new InvalidArgumentError(`"${value}" is not an IPv4 address with an optional :port`);
  return [...previous, { ip: m[1]!, port: m[2] !== undefined ? port(m[2]) : undefined }];
}

function why(v: Verdict): string {
  const parts: string[] = [];
  for (const [name, gate] of [['egress', v.egress], ['ingress', v.ingress]] as const) {
    if (!gate.applies || !gate.isolated) continue;
    parts.push(
      gate.allowed
        ? `${name} allowed by ${gate.allowedBy.map((r) => `${r.policy} ${r.direction}[${r.rule}]`).join(', ')}`
        : `${name} isolated by ${gate.isolatedBy.join(', ')} with no rule allowing it`,
    );
  }
  return parts.length > 0 ? parts.join('; ') : 'no policy isolates either side';
}

/** fn over items with at most `limit` running at once; results in input order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const podName = (p: V1Pod): string => `${p.metadata?.namespace ?? 'default'}/${p.metadata?.name ?? ''}`;

/** Runs the probe; returns the exit code (1 on any disagreement). */
export async function runProbe(opts: ProbeOptions, io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  if (opts.namespace && opts.allNamespaces) throw new InputError('-n/-A', 'give either --namespace or --all-namespaces, not both');
  if (opts.ports.length === 0 && !opts.to.some((t) => t.port !== undefined)) throw new InputError('--port', 'give at least one port to probe (-p 80)');
  const via = opts.via ?? 'exec';
  if (via !== 'pods' && opts.probeImage !== undefined) throw new InputError('--probe-image', 'probe pods are made only with --via pods');
  if (via !== 'pods' && opts.probePodTimeout !== undefined) throw new InputError('--probe-pod-timeout', 'probe pods are made only with --via pods');
  const [{ LiveClusterView }, { probeFromPod, probeFromProbePod }] = await Promise.all([import('../../../cluster/live.js'), import('../../../cluster/probe.js')]);
  const view = await LiveClusterView.connect({ kubeconfig: opts.kubeconfig, context: opts.context });
  try {
    const index = view.index();
    const namespace = opts.allNamespaces ? undefined : (opts.namespace ?? view.namespace);
    const selector = opts.selector !== undefined ? compileSelector(parseSelector(opts.selector, '--selector')) : undefined;
    const pods = view
      .objects()
      .pods.filter(
        (p) =>
          p.status?.phase === 'Running' &&
          p.status.podIP &&
          !p.spec?.hostNetwork &&
          (namespace === undefined || (p.metadata?.namespace ?? 'default') === namespace) &&
          (selector === undefined || selector(p.metadata?.labels ?? {})),
      )
      .sort((a, b) => podName(a).localeCompare(podName(b)));
    if (pods.length === 0) throw new InputError('-n/-A/-l', `no running pod matches${namespace ? ` in namespace ${namespace}` : ''}${opts.selector ? ` with ${opts.selector}` : ''}`);
    const policies = opts.policies && opts.policies.length > 0 ? loadPolicies(opts.policies) : view.objects().networkPolicies;
    const set = compilePolicies(policies);

    // Targets: every other pod in scope on every port, then the outside addresses.
    type Target = { name: string; ip: string; port: number; endpoint: Endpoint };
    const targetsFor = (src: V1Pod): Target[] => {
      const out: Target[] = [];
      for (const p of opts.ports) {
        for (const dst of pods) if (dst !== src) out.push({ name: `p/${podName(dst)}`, ip: dst.status!.podIP!, port: p, endpoint: podEndpoint(dst, index) });
      }
      for (const t of opts.to) {
        for (const p of t.port !== undefined ? [t.port] : opts.ports) out.push({ name: `r/${t.ip}`, ip: t.ip, port: p, endpoint: { kind: 'external', ip: t.ip } });
      }
      return out;
    };
    // Every source probes its targets one after another (each blocked connect waits its timeout);
    // sources run side by side, a few at a time.
    const perSource = await mapLimit(pods, 4, async (src) => {
      const targets = targetsFor(src);
      let results;
      let srcEndpoint: Endpoint;
      let probePod: string | undefined;
      if (via === 'pods') {
        const r = await probeFromProbePod(view.kc, src, targets, opts.timeout, {
          image: opts.probeImage ?? DEFAULT_PROBE_IMAGE,
          startTimeoutMs: (opts.probePodTimeout ?? 60) * 1000,
        });
        results = r.results;
        // Predicted for the connect that was made: from the probe pod (the source's labels and
        // namespace, its own address).
        srcEndpoint = podEndpoint(r.pod, index);
        probePod = `${r.pod.metadata?.namespace ?? 'default'}/${r.pod.metadata?.name ?? ''}`;
      } else {
        const container = src.spec?.containers?.[0]?.name ?? '';
        results = await probeFromPod(view.kc, { namespace: src.metadata?.namespace ?? 'default', pod: src.metadata?.name ?? '', container }, targets, opts.timeout);
        srcEndpoint = podEndpoint(src, index);
      }
      return results.map((r, i): ProbeRow => {
        const t = targets[i]!;
        const verdict = evaluate(set, { src: srcEndpoint, dst: t.endpoint, port: t.port, proto: 'TCP' });
        const observed = r.connected ? 'reachable' : 'blocked';
        return {
          src: `p/${podName(src)}`,
          dst: t.name,
          port: t.port,
          observed,
          detail: r.detail,
          predicted: verdict.verdict,
          agree: (observed === 'reachable') === (verdict.verdict === 'allowed'),
          why: why(verdict),
          ...(probePod !== undefined ? { probePod } : {}),
        };
      });
    });
    const rows = perSource.flat();
    const disagreements = rows.filter((r) => !r.agree);
    const source = opts.policies && opts.policies.length > 0 ? `the policy files (${opts.policies.join(', ')})` : `the cluster's NetworkPolicies (${view.description})`;
    if (opts.output === 'json') {
      io.stdout.write(JSON.stringify({ predictedBy: source, via, probes: rows, summary: { probes: rows.length, agree: rows.length - disagreements.length, disagree: disagreements.length } }, null, 2) + '\n');
    } else {
      io.stdout.write(matrices(rows, source, via));
      if (disagreements.length > 0) {
        io.stdout.write(`\ndisagreements (observed ≠ predicted):\n`);
        for (const d of disagreements) {
          io.stdout.write(`  ${d.src} → ${d.dst}:${d.port}  observed ${d.observed} (${d.detail}), predicted ${d.predicted}: ${d.why}\n`);
        }
      }
      io.stdout.write(`\n${rows.length} probes: ${rows.length - disagreements.length} agree, ${disagreements.length} disagree\n`);
    }
    return disagreements.length > 0 ? 1 : 0;
  } finally {
    await view.close();
  }
}

/** One matrix per port: rows are sources, columns targets, cells observed/predicted. */
function matrices(rows: ProbeRow[], source: string, via: 'exec' | 'pods'): string {
  const lines: string[] = [`observed/predicted: X reachable/allowed, . blocked/denied, ! where they disagree (predicted by ${source})`];
  if (via === 'pods') lines.push('connects made from a probe pod per source (its labels, namespace and node)');
  const ports = [...new Set(rows.map((r) => r.port))].sort((a, b) => a - b);
  for (const p of ports) {
    const here = rows.filter((r) => r.port === p);
    const srcs = [...new Set(here.map((r) => r.src))];
    const dsts = [...new Set(here.map((r) => r.dst))].sort(); // pods (p/…) in name order, then outside addresses (r/…)
    const cell = (s: string, d: string): string => {
      const r = here.find((x) => x.src === s && x.dst === d);
      if (!r) return '-';
      return `${r.observed === 'reachable' ? 'X' : '.'}/${r.predicted === 'allowed' ? 'X' : '.'}${r.agree ? '' : '!'}`;
    };
    const first = Math.max(...srcs.map((s) => s.length), `port ${p}`.length);
    const widths = dsts.map((d) => Math.max(d.length, 4));
    lines.push('', [`port ${p}`.padEnd(first), ...dsts.map((d, i) => d.padEnd(widths[i]!))].join('  ').trimEnd());
    for (const s of srcs) lines.push([s.padEnd(first), ...dsts.map((d, i) => cell(s, d).padEnd(widths[i]!))].join('  ').trimEnd());
  }
  return lines.join('\n') + '\n';
}

export function probeCommand(): Command {
  const cmd = new Command('probe')
    .description("real TCP connects between pods (and to outside addresses) next to netpol's predicted verdicts; exit 1 on any disagreement")
    .option('-n, --namespace <ns>', "pods of this namespace (default: the context's)")
    .option('-A, --all-namespaces', 'pods of every namespace')
    .option('-l, --selector <selector>', 'only pods matching this label selector')
    .option('-p, --port <port>', 'a TCP port to probe on every pod (repeatable)', (v: string, prev: number[] = []) => [...prev, port(v)])
    .option('--to <ip[:port]>', 'an outside address to probe from every pod (repeatable; without :port, every --port)', outside)
    .option('--policies <path>', 'predict with these policy files instead of the cluster\'s (repeatable)', collect)
    .option('--timeout <duration>', `connect timeout of each probe, at most 60s (${DURATION_SYNTAX})`, (v: string) => {
      const n = parseDurationSeconds(v);
      if (n > 60) throw new InvalidArgumentError(`"${v}" is longer than 60s`);
      return n;
    }, 2)
    .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
    .addOption(
      new Option('--via <how>', 'exec: connect from inside each source pod (needs sh and nc in its image, and pods/exec); pods: from a short-lived probe pod per source')
        .choices(['exec', 'pods'])
        .default('exec'),
    )
    .option('--probe-image <image>', `the probe pods' image, with sh and nc (--via pods; default ${DEFAULT_PROBE_IMAGE})`)
    .option('--probe-pod-timeout <duration>', `how long a probe pod may take to be scheduled, pull its image and start (--via pods; default 60s; ${DURATION_SYNTAX})`, (v: string) => parseDurationSeconds(v));
  return addKubeconfigFileFlags(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  netpol probe -n shop -p 80 -p 8080\n' +
        '  netpol probe -A -l app=web -p 443 --to 203.0.113.10:80 -o json\n' +
        '  netpol probe -n shop -p 8080 --policies policies/ --timeout 1s\n' +
        '  netpol probe -n shop -p 80 --via pods --probe-image docker.io/library/busybox:1.36\n' +
        '\nHow the connects are made (--via):\n' +
        '  exec  from inside each source pod, through the pod exec API (what kubectl exec uses): the\n' +
        '        workload image needs sh and nc (or netpol\'s /tcpserver); needs create on pods/exec.\n' +
        '  pods  from a short-lived probe pod per source, on its node, in its namespace, with its labels\n' +
        '        (plus netpol.io/probe=true), so policies select it as they select the source; any\n' +
        '        workload image works; needs create/get/delete on pods and get on pods/log. The pod is\n' +
        '        deleted afterwards. A probe pod measures the source\'s egress: ingress to the probe pod\n' +
        '        itself is never tested, and it has its own address (predictions use it).',
    )
    .action(async (o: { namespace?: string; allNamespaces?: boolean; selector?: string; port?: number[]; to?: Array<{ ip: string; port?: number }>; policies?: string[]; timeout: number; output: 'table' | 'json'; kubeconfig?: string; context?: string; via: 'exec' | 'pods'; probeImage?: string; probePodTimeout?: number }) => {
      process.exitCode = await runProbe(
        { ...o, ports: o.port ?? [], to: o.to ?? [] },
        { stdout: process.stdout, stderr: process.stderr },
      );
    });
}
