/**
 * `netpol learn --local`: observe this host's containers with eBPF, record every new connection
 * (JSONL v1, durable: flushed after each ring-buffer batch, fdatasync'ed on exit, nothing lost on
 * Ctrl-C) and learn NetworkPolicy for the containers that connected.
 *
 * With no cluster, each Docker container is modelled as a pod:
 *   namespace `local`, name = the container name, labels `run: <name>` (like `kubectl run`) and
 *   `app: <compose service>` when the container carries the com.docker.compose.service label,
 *   pod IPs = the container's addresses.
 * So a container talking to another local container gets a pod selector, anything else an
 * ipBlock /32 (or /128). The kernel de-duplicates edges (container, destination, port, outcome):
 * only the first connect of each edge reaches user space and the recording. connect() calls that
 * fail before sending anything are recorded only with `connectErrors` (see LearnLocalOptions).
 */
import { hostname } from 'node:os';
import type { ClusterIndex } from '../../../cluster/lookup.js';
import { startLiveLearnView, type LiveLearnView } from '../../views/learn-view.js';
import { LocalAgent, type EnrichedEvent } from '../../../agent/agent.js';
import type { ContainerInfo } from '../../../agent/containers.js';
import { emptyClusterObjects, type ClusterObjects, type V1Pod } from '../../../cluster/objects.js';
import { buildIndex } from '../../../cluster/lookup.js';
import { existsSync } from 'node:fs';
import { recordedSnapshotPath, writeRecordedSnapshot } from '../../../cluster/recorded-snapshot.js';
import { loadSnapshot, SnapshotView } from '../../../cluster/snapshot.js';
import { FlowWriter, readAllFlows, readFlows } from '../../../flows/jsonl.js';
import type { FlowRecord, Protocol } from '../../../flows/record.js';
import { DEFAULT_LEARN_PROTOCOLS, udpNotObservedWarning, type LearnProtocols } from '../../shared/learn-protocols.js';
import { learnFromFlows } from '../../../policy/learn.js';
import { renderPolicies } from '../../../policy/render.js';
import { writePolicyTree } from '../../../policy/write.js';
import { reportOutcome } from '../../shared/learn-report.js';
import { synthesisOptions, type SynthesisFlags } from '../../shared/synthesis-flags.js';
import { canonicalIp } from '../../../flows/ip.js';
import type { LearnRow } from '../../views/learn-model.js';

/** The kernel's edge key (bpf dedup map) of a connect, as text: how its repeat count is found. */
function kernelEdgeKey(k: { cgroupId: bigint; netns: number; daddr: string; dport: number; outcome: string }): string {
  return `${k.cgroupId}|${k.netns}|${canonicalIp(k.daddr)}|${k.dport}|${k.outcome}`;
}

export const LOCAL_NAMESPACE = 'local';

export interface LearnLocalOptions extends Partial<SynthesisFlags> {
  /** -c/--containername: only this container. */
  containername?: string;
  /** --duration, in milliseconds (as parseDuration gives it); default until Ctrl-C. */
  duration?: number;
  /** --record FILE: append the observed flows (JSONL v1) as they arrive. */
  record?: string;
  /** --out DIR: write the policy tree there instead of printing it. */
  out?: string;
  /** --latency: keep connect latency in the recording (it is always measured; default true). */
  latency?: boolean;
  /** -o: printed format without --out. */
  output?: 'yaml' | 'json';
  /** Also observe host processes (recorded by address only; they get no policy). */
  host?: boolean;
  /**
   * Also record connect() calls that fail before sending anything (outcome error, with errno).
   * Off by default: it needs the syscall tracepoints, which slow every syscall of the host a
   * little, and such a connect reaches no peer, so it changes no policy.
   */
  connectErrors?: boolean;
  /**
   * --proto: what to observe (default TCP and UDP). UDP needs CAP_NET_ADMIN; without it (or when
   * its hooks cannot be attached) TCP is recorded alone, said once, and every flow's `observed`
   * says so.
   */
  proto?: LearnProtocols;
}

export interface LearnLocalIO {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Aborting ends observation like Ctrl-C. */
  signal?: AbortSignal;
  /** Called once the programs are attached. */
  onReady?: () => void;
  /**
   * Called with the kernel's counters when observation ends, and the rows the screen showed last
   * (their COUNTs are the kernel's connect counts).
   */
  onSummary?: (s: { flows: number; lost: number; deduped: number; untracked: number; received: number; rows: LearnRow[] }) => void;
  /** Called once the programs are attached, with the protocols observed (what every flow's `observed` says). */
  onObserved?: (observed: readonly Protocol[]) => void;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function labelValue(v: string): string | undefined {
  const s = v.slice(0, 63);
  return LABEL_VALUE.test(s) ? s : undefined;
}

/** The pod a Docker container stands for (see the module comment). */
export function containerAsPod(c: ContainerInfo): V1Pod {
  const labels: Record<string, string> = {};
  const run = labelValue(c.name.replace(/[^A-Za-z0-9_.-]/g, '-'));
  if (run) labels.run = run;
  const app = c.labels['com.docker.compose.service'];
  if (app && labelValue(app)) labels.app = app;
  const ips = c.ips.filter(Boolean);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: c.name, namespace: LOCAL_NAMESPACE, labels, annotations: { 'netpol.io/container-id': c.id, 'netpol.io/image': c.image } },
    spec: { containers: [{ name: c.name, image: c.image }] },
    status: { phase: 'Running', ...(ips[0] ? { podIP: ips[0] } : {}), podIPs: ips.map((ip) => ({ ip })) },
  };
}

/**
 * The local objects of this session over those recorded beside the recording by earlier sessions
 * (pods by name, this session's winning): what the recording's flows resolve against.
 */
function withRecorded(recorded: ClusterObjects | undefined, current: ClusterObjects): ClusterObjects {
  if (!recorded) return current;
  const names = new Set(current.pods.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`));
  const merged = emptyClusterObjects();
  merged.namespaces.push(...current.namespaces, ...recorded.namespaces.filter((n) => !current.namespaces.some((c) => c.metadata?.name === n.metadata?.name)));
  merged.pods.push(...current.pods, ...recorded.pods.filter((p) => !names.has(`${p.metadata?.namespace}/${p.metadata?.name}`)));
  return merged;
}

export function localClusterObjects(containers: Iterable<ContainerInfo>): ClusterObjects {
  const objects = emptyClusterObjects();
  objects.namespaces.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: LOCAL_NAMESPACE, labels: { 'kubernetes.io/metadata.name': LOCAL_NAMESPACE } } });
  const seen = new Set<string>();
  for (const c of containers) {
    if (seen.has(c.name)) continue;
    seen.add(c.name);
    objects.pods.push(containerAsPod(c));
  }
  return objects;
}

/**
 * One flow record (JSONL v1) for an observed connect; `observed` (the protocols the recorder saw,
 * see FlowRecord.observed) is written when given.
 */
export function flowFromEvent(e: EnrichedEvent, node: string, peers: Map<string, ContainerInfo>, withLatency = true, observed?: readonly Protocol[]): FlowRecord {
  const { event, container } = e;
  const dstPeer = peers.get(event.daddr);
  const rec: FlowRecord = {
    v: 1,
    ts: e.time.toISOString(),
    node,
    proto: event.proto,
    src: {
      ip: event.saddr,
      port: event.sport,
      ...(container ? { namespace: LOCAL_NAMESPACE, pod: container.name, container: container.name } : {}),
      pid: event.pid,
      comm: event.comm,
    },
    dst: { ip: event.daddr, port: event.dport, ...(dstPeer ? { namespace: LOCAL_NAMESPACE, pod: dstPeer.name } : {}) },
    // learn never asks the kernel for connects as they are made, only for their outcomes; a UDP
    // datagram has none.
    ...(event.outcome !== 'connecting' && event.outcome !== 'sent' ? { outcome: event.outcome } : {}),
  };
  // A datagram is not answered as a connect is: no latency to record (as the cluster records it).
  if (withLatency && event.outcome !== 'sent') rec.latencyNs = event.latencyNs;
  if (event.outcome === 'error') rec.errno = event.errno;
  if (observed) rec.observed = [...observed];
  return rec;
}

export async function learnLocal(opts: LearnLocalOptions, io: LearnLocalIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const node = hostname();
  // A recording this session appends to: its earlier flows are learned from too (the policy written
  // is what `learn --flows REC` gives), with the containers earlier sessions recorded beside it.
  const prior = opts.record && existsSync(opts.record) ? await readAllFlows([opts.record]) : [];
  const recordedPath = opts.record ? recordedSnapshotPath(opts.record) : undefined;
  const recorded = recordedPath && existsSync(recordedPath) ? loadSnapshot([recordedPath]) : undefined;
  const writer = opts.record ? new FlowWriter(opts.record) : undefined;
  const flows: FlowRecord[] = [];
  const seenContainers = new Map<string, ContainerInfo>();
  const peers = new Map<string, ContainerInfo>();
  let agent: LocalAgent | undefined;
  const failed = new AbortController();
  let live: LiveLearnView | undefined;
  let rows: LearnRow[] = [];
  const wantUdp = (opts.proto ?? DEFAULT_LEARN_PROTOCOLS).includes('UDP');
  // What the flows say was observed: decided once the hooks are attached (events come after that).
  let observed: Protocol[] = ['TCP'];
  // Each edge reaches user space once; the kernel counts its repeats. The screen's COUNT shows them.
  const byKernelEdge = new Map<string, { flow: FlowRecord; connects: number }>();
  const showKernelCounts = (): void => {
    if (!agent || !live) return;
    for (const k of agent.edges()) {
      const seen = byKernelEdge.get(kernelEdgeKey(k));
      if (seen && k.connects !== seen.connects) {
        seen.connects = k.connects;
        live.pushConnects(seen.flow, k.connects);
      }
    }
  };
  let countTimer: NodeJS.Timeout | undefined;
  // The snapshot beside the recording: written at the start, when containers come, and at the end,
  // so that even a killed session leaves what its recorded flows need to be judged offline.
  let snapshotVersion = -1;
  const recordSnapshot = (extra: Iterable<ContainerInfo> = []): void => {
    if (!opts.record || snapshotVersion === containersChanged) return;
    snapshotVersion = containersChanged;
    writeRecordedSnapshot(opts.record, localClusterObjects([...seenContainers.values(), ...new Set(peers.values()), ...extra]));
  };
  // The live view's preview resolves flows against this; rebuilt only when containers come or go.
  let containersChanged = 0;
  let cachedIndex: { version: number; index: ClusterIndex } | undefined;
  const localIndex = (): ClusterIndex => {
    if (cachedIndex?.version !== containersChanged) {
      cachedIndex = { version: containersChanged, index: buildIndex(withRecorded(recorded, localClusterObjects([...seenContainers.values(), ...new Set(peers.values())]))) };
    }
    return cachedIndex.index;
  };
  try {
    agent = await LocalAgent.start(
      {
        ...(opts.containername !== undefined ? { containerName: opts.containername } : {}),
        dedupEdges: true,
        connectErrors: opts.connectErrors ?? false,
        ...(wantUdp ? { udp: true, udpOptional: true } : {}),
        // Only new edges reach user space: a slow idle poll is enough (lost events are counted).
        idlePollMs: 200,
        ...(opts.host ? { host: true } : {}),
        onLost: (n, total) => {
          live?.addLost(n);
          stderr.write(`warning: ${n} connect events lost (ring buffer full; ${total} in total)\n`);
        },
        onError: () => failed.abort(),
      },
      (e) => {
        if (e.container && !seenContainers.has(e.container.name)) {
          seenContainers.set(e.container.name, e.container);
          containersChanged++;
        }
        const rec = flowFromEvent(e, node, peers, opts.latency !== false, observed);
        byKernelEdge.set(kernelEdgeKey(e.event), { flow: rec, connects: 1 });
        flows.push(rec);
        live?.push(rec);
        writer?.append(rec);
      },
    );
    if (agent.udpReporting.observed) observed = ['TCP', 'UDP'];
    else if (wantUdp) stderr.write(udpNotObservedWarning(agent.udpReporting.problem));
    io.onObserved?.(observed);
    for (const { info } of await agent.resolver.all()) for (const ip of info.ips) peers.set(ip, info);
    const stopWatch = agent.resolver.watch((_entry, info) => {
      for (const ip of info.ips) peers.set(ip, info);
      containersChanged++;
    });
    stderr.write(
      `observing ${opts.containername ? `container ${opts.containername}` : 'all containers'} on ${node}` +
        `${opts.duration ? ` for ${opts.duration / 1000}s` : ''} (Ctrl-C to stop and learn)\n`,
    );
    live = startLiveLearnView({
      mode: 'local',
      selector: opts.containername ? `container ${opts.containername}` : 'all containers',
      index: localIndex,
      synthesis: synthesisOptions(synthesisDefaults(opts)),
      out: opts.out,
      prior,
      output: opts.output,
      durationMs: opts.duration,
      signal: io.signal ? AbortSignal.any([io.signal, failed.signal]) : failed.signal,
      stderr: io.stderr,
    });
    recordSnapshot();
    let snapshotFailed = false;
    countTimer = setInterval(() => {
      showKernelCounts();
      try {
        recordSnapshot();
      } catch (err) {
        // Said once; the final write at the end reports it as the error it is.
        if (!snapshotFailed) stderr.write(`warning: ${(err as Error).message}\n`);
        snapshotFailed = true;
      }
    }, 1000);
    io.onReady?.();
    await live.until;
    stopWatch();
    clearInterval(countTimer);
    showKernelCounts();
    const counters = await agent.stop();
    writer?.flush();
    rows = (await live.close()).rows;
    io.onSummary?.({ flows: flows.length, received: agent.eventsReceived, ...counters, rows });
    stderr.write(
      `observed ${flows.length} distinct connections (${counters.deduped} repeats counted in the kernel), ${counters.lost} events lost` +
        `${writer ? `; recorded to ${opts.record}` : ''}\n`,
    );
    if (agent.error) throw agent.error;
  } finally {
    clearInterval(countTimer);
    await agent?.stop();
    await live?.close();
    writer?.close();
  }

  // Containers that connected (even if gone now) plus those running now, as pods of `local`.
  const current = agent ? (await agent.resolver.all()).map((x) => x.info) : [];
  let outcome;
  if (opts.record && recordedPath) {
    // Learn what `learn --flows REC` learns offline: the whole recording, against the snapshot
    // recorded beside it — one result, whichever way it is asked for.
    snapshotVersion = -1;
    recordSnapshot(current);
    const view = new SnapshotView([recordedPath]);
    outcome = await learnFromFlows(readFlows([opts.record]), view.index(), synthesisOptions(synthesisDefaults(opts)));
  } else {
    const index = buildIndex(localClusterObjects([...seenContainers.values(), ...current]));
    outcome = await learnFromFlows(flows, index, synthesisOptions(synthesisDefaults(opts)));
  }
  if (opts.out) {
    const written = await writePolicyTree(opts.out, outcome.result);
    stderr.write(reportOutcome(outcome, written, opts.out));
    return 0;
  }
  const policies = outcome.result.policies.map((p) => p.policy);
  stdout.write(opts.output === 'json' ? JSON.stringify({ apiVersion: 'v1', kind: 'List', items: policies }, null, 2) + '\n' : renderPolicies(policies));
  stderr.write(reportOutcome(outcome));
  return 0;
}

function synthesisDefaults(opts: LearnLocalOptions): SynthesisFlags {
  return { ...opts, dns: opts.dns ?? true, ingress: opts.ingress ?? 'observed' } as SynthesisFlags;
}

