// Durability of the traffic profiles on a real node (test/node/up.sh), with the agent deployed as
// users deploy it (`kubectl netpol deploy`). In each window a client pod makes a steady stream of
// TCP connects, each to a port of its own on a server pod (so every connect is an edge of its own,
// count 1), and logs every connect that succeeded (the kubelet timestamps each line: `kubectl logs
// --timestamps`). A client has at most 990 ports (a profile's edge bound), about 330 s of stream, so
// each window has a client of its own: the five are made at the start and wait, and the test tells
// a window's client to go when the window begins and the previous one to stop (`kubectl exec`, which
// needs no new pod: after the API server restart of (b) a new pod can wait a minute to be scheduled).
// How long the earlier windows took (each may wait its full 90 s for the profiles) takes nothing
// from a later window's stream. Four windows disturb the agent while the stream runs:
//   (a) the agent process SIGKILLed from the host (found by its pod's cgroup) and its pod recreated;
//   (b) the API server stopped and started again with the same command line;
//   (d) the node's agent removed while learning, the DaemonSet staying: the node excluded by a
//       nodeSelector (the DaemonSet controller deletes its pod), then included again;
//   (c) the agent removed for good (`kubectl netpol undeploy`) and deployed again.
// After each window the test counts both sides: every logged connect is either in the client's
// TrafficProfiles or counted as lost in `kubectl netpol status -o json` (kernel lost, the profile
// sink's lost) — a difference is a failure.
//
// While no agent process runs — between the SIGKILL and the new pod's attach in (a), between the
// pod's deletion and its replacement in (d) — the agent's BPF programs stay attached, pinned in the
// node's BPF filesystem with their ring buffer, and the next agent reads what they recorded: those
// connects are not excused, they must be profiled (or counted lost). Only (c) removes the agent for
// good: undeploy removes the pins, and the test checks that nothing of netpol stays attached on the
// node (no pins, the programs gone from the kernel); connects made until the redeployed agent
// attaches are seen by nothing, and are the one excused gap.
// Run under the node lock: flock -o /tmp/netpol-node.lock npx vitest run test/e2e/node-durability.test.ts
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { TrafficProfile } from '../../src/cluster/profile/types.js';
import { ensureBuilt, netpolAsync } from '../support/cli.js';
import { ensureBpfBuilt } from './support/agent-events.js';
import { RealNode } from './support/node.js';
import { currentAgentPod, endedAgentPods, type AgentPodItem } from './support/agent-pods.js';
import { pushNetpolImage } from './support/node-suite.js';

const NS = 'dur';
const AGENT_NS = 'netpol-system';
const FIRST_PORT = 20000;
const PORTS = 990; // fewer than a profile's 1000-edge bound: every connect of a client fits
const PERIOD_S = '0.3'; // a client's pause between connects (≈ 3 connects/s with the probe's own time: 990 ports last about 330 s, one window)
/** A client per window, in the order the windows run (each its own workload, so its own profile). */
const CLIENTS = ['client-0', 'client-a', 'client-b', 'client-d', 'client-c'] as const;
type Client = (typeof CLIENTS)[number];

function cmdline(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '');
  } catch {
    return '';
  }
}

/** A process that runs (a zombie has ended: its parent, the node's holder, may reap it late). */
function alive(pid: string): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Logged {
  port: number;
  at: number; // ms, the kubelet's timestamp of the line (just after the connect succeeded)
}

interface ClientLog {
  conns: Logged[];
  /** When the client ran out of ports (its `done` line), if it did. */
  doneAt?: number;
}

interface AgentFigures {
  node: string;
  pod: string | null;
  startedAt?: string;
  kernelLost: number;
  profileLost: number;
  backlog: number;
  /** Records freed from the pinned ring before they were journaled (ring pressure): shown, not lost. */
  unprotected: number;
}

describe('durable traffic profiles on a real node', () => {
  let node: RealNode;
  let work: string;
  let serverIP = '';
  const figures: Record<string, unknown> = {};

  const netpol = async (args: string[]) => netpolAsync([...args, '--kubeconfig', node.kubeconfig]);

  async function agentPods(): Promise<AgentPodItem[]> {
    const out = (await node.kubectl(['-n', AGENT_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=netpol-agent', '-o', 'json'], { allowFail: true })).stdout;
    return (JSON.parse(out || '{"items":[]}') as { items: AgentPodItem[] }).items;
  }

  /** The node's agent pod (support/agent-pods.ts: not being deleted, not refused by the kubelet). */
  async function agentPod(): Promise<{ name: string; uid: string } | undefined> {
    const p = currentAgentPod(await agentPods());
    return p ? { name: p.metadata.name, uid: p.metadata.uid } : undefined;
  }

  /**
   * When the node's agent says its BPF programs are attached (the kubelet's timestamp), and which pod
   * said it. Follows the DaemonSet's pod on the node from `first` on: a pod the kubelet refuses at
   * admission is replaced by another (support/agent-pods.ts), and the pods that ended are returned.
   * At the deadline the error holds what explains it (agentDiagnosis): the node's logs go with it.
   */
  async function attachedAt(first: string, old?: string, deadlineMs = 120_000): Promise<{ pod: string; at: number; ended: string[] }> {
    const deadline = Date.now() + deadlineMs;
    const followed = [first];
    const endedPods = new Set<string>();
    for (;;) {
      const pods = await agentPods();
      for (const e of endedAgentPods(pods)) endedPods.add(e);
      const current = currentAgentPod(pods)?.metadata.name;
      if (current && current !== old && !followed.includes(current)) followed.push(current);
      const pod = followed[followed.length - 1]!;
      const log = (await node.kubectl(['-n', AGENT_NS, 'logs', '--timestamps', pod], { allowFail: true })).stdout;
      const line = log.split('\n').find((l) => l.endsWith('BPF programs attached'));
      if (line) return { pod, at: Date.parse(line.split(' ')[0]!), ended: [...endedPods] };
      if (Date.now() > deadline) {
        throw new Error(`agent ${followed.join(' → ')} did not attach within ${deadlineMs} ms (ended: ${[...endedPods].join('; ') || 'none'})\n${await agentDiagnosis([...followed, ...(old ? [old] : [])])}`);
      }
      await sleep(500);
    }
  }

  /**
   * Why an agent pod does not attach, all in one text (the node's directory goes at teardown): each
   * pod's state, events and log, its /readyz answer, the node lock's holder, the agent processes on
   * the host, and what the kubelet and containerd logged about these pods.
   */
  async function agentDiagnosis(pods: string[]): Promise<string> {
    const parts: string[] = [];
    const section = (title: string, body: string) => parts.push(`--- ${title}\n${body.trimEnd()}`);
    const safely = async (title: string, f: () => Promise<string> | string) => {
      try {
        section(title, await f());
      } catch (e) {
        section(title, `(failed: ${(e as Error).message})`);
      }
    };
    await safely('agent pods', async () => (await node.kubectl(['-n', AGENT_NS, 'get', 'pods', '-o', 'wide'], { allowFail: true })).stdout);
    for (const pod of [...new Set(pods)]) {
      await safely(`pod ${pod}`, async () => {
        const got = await node.kubectl(['-n', AGENT_NS, 'get', 'pod', pod, '-o', 'json'], { allowFail: true });
        if (got.code !== 0) return `not found: ${got.stderr.trim()}`;
        const p = JSON.parse(got.stdout) as AgentPodItem & { status?: { containerStatuses?: unknown[]; conditions?: unknown[] } };
        const state = JSON.stringify({ deletionTimestamp: p.metadata.deletionTimestamp, node: p.spec?.nodeName, phase: p.status?.phase, reason: p.status?.reason, message: p.status?.message, podIP: p.status?.podIP, conditions: p.status?.conditions, containers: p.status?.containerStatuses });
        const described = (await node.kubectl(['-n', AGENT_NS, 'describe', 'pod', pod], { allowFail: true })).stdout;
        const events = described.slice(described.lastIndexOf('Events:'));
        const logs = await node.kubectl(['-n', AGENT_NS, 'logs', '--timestamps', '--tail=30', pod], { allowFail: true });
        let readyz = 'no pod IP';
        if (p.status?.podIP) {
          try {
            readyz = execFileSync('nsenter', [`--target=${node.env.NETPOL_NODE_HOLDER_PID}`, '--net', '--', 'curl', '-s', '-m', '3', `http://${p.status.podIP}:9809/readyz`], { encoding: 'utf8' });
          } catch (e) {
            readyz = `unreachable: ${(e as Error).message.split('\n')[0]}`;
          }
        }
        return `${state}\n${events}\nlog (exit ${logs.code}): ${logs.stdout || '(empty)'} ${logs.stderr.trim()}\n/readyz: ${readyz}`;
      });
    }
    await safely('events', async () => (await node.kubectl(['-n', AGENT_NS, 'get', 'events', '--sort-by=.lastTimestamp'], { allowFail: true })).stdout.split('\n').slice(-25).join('\n'));
    await safely('node lock', () => onNode(`cat /var/lib/netpol/${node.name}/profile/agent.lock 2>&1; ls -la /var/lib/netpol/${node.name}/profile 2>&1 | head -20`));
    await safely('agent processes on the host', () =>
      execFileSync('bash', ['-c', "for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); case \"$c\" in *\" agent\"*) echo \"${p#/proc/} $(awk '{print $3}' $p/stat) $c $(grep -o 'pod[0-9a-f_-]*' $p/cgroup | head -1)\";; esac; done"], { encoding: 'utf8' }),
    );
    for (const daemon of ['kubelet', 'containerd']) {
      await safely(`${daemon}.log`, () => {
        const lines = readFileSync(join(node.dir, 'logs', `${daemon}.log`), 'utf8').split('\n');
        const about = lines.filter((l) => pods.some((p) => l.includes(p)) || l.includes('netpol-agent')).slice(-40);
        return `about the agent pods (last ${about.length}):\n${about.join('\n')}\nlast lines:\n${lines.slice(-25).join('\n')}`;
      });
    }
    return parts.join('\n').split('\n').map((l) => (l.length > 600 ? `${l.slice(0, 600)}…` : l)).join('\n');
  }

  async function agentLog(pod: string): Promise<string> {
    return (await node.kubectl(['-n', AGENT_NS, 'logs', pod], { allowFail: true })).stdout;
  }

  /** A shell command in the node's mount namespace (its BPF filesystem is its own). */
  function onNode(script: string): string {
    return execFileSync('nsenter', [`--target=${node.env.NETPOL_NODE_HOLDER_PID}`, '--mount', '--', 'sh', '-c', script], { encoding: 'utf8' });
  }

  /** netpol's pins on the node, and the BPF program ids behind its pinned links. */
  function pins(): { files: string[]; progIds: number[] } {
    const files = onNode('ls -1d /sys/fs/bpf/netpol/*/* 2>/dev/null || true').split('\n').filter(Boolean);
    const progIds = files
      .filter((f) => /\/link_[^/]+$/.test(f))
      .map((f) => (JSON.parse(onNode(`bpftool link show pinned ${f} -j`)) as { prog_id: number }).prog_id);
    return { files, progIds };
  }

  function progExists(id: number): boolean {
    try {
      execFileSync('bpftool', ['prog', 'show', 'id', String(id)], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  async function logged(client: Client): Promise<ClientLog> {
    const lines = (await node.kubectl(['-n', NS, 'logs', '--timestamps', client])).stdout.split('\n');
    const conns = lines
      .map((l) => /^(\S+) ok (\d+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ at: Date.parse(m[1]!), port: Number(m[2]) }));
    const done = lines.find((l) => / done$/.test(l));
    return done ? { conns, doneAt: Date.parse(done.split(' ')[0]!) } : { conns };
  }

  /**
   * Starts a window's client (its stream begins now) and stops the previous window's (it has been
   * counted; stopped, it adds no load to later windows). Both through `kubectl exec`: a file the
   * client's loop checks.
   */
  async function go(client: Client): Promise<void> {
    const i = CLIENTS.indexOf(client);
    if (i > 0) await node.kubectl(['-n', NS, 'exec', CLIENTS[i - 1]!, '--', 'touch', '/tmp/stop']);
    await node.kubectl(['-n', NS, 'exec', client, '--', 'touch', '/tmp/go']);
  }

  /** Connects per port in a client's TrafficProfiles (every node's share). */
  async function profiled(client: Client): Promise<Map<number, number>> {
    const out = JSON.parse((await node.kubectl(['-n', NS, 'get', 'trafficprofiles', '-o', 'json'])).stdout) as { items: TrafficProfile[] };
    const counts = new Map<number, number>();
    for (const p of out.items) {
      if (p.spec.workload.name !== client) continue;
      for (const e of p.status?.edges ?? []) {
        if (e.port < FIRST_PORT || e.port >= FIRST_PORT + PORTS) continue;
        counts.set(e.port, (counts.get(e.port) ?? 0) + e.count);
      }
    }
    return counts;
  }

  async function agentFigures(): Promise<AgentFigures[]> {
    const r = await netpol(['status', '-o', 'json']);
    const doc = JSON.parse(r.stdout) as {
      agents: { node: string; pod: string | null; status?: { startedAt: string; events: { kernelLost: number }; kernelState?: { unprotected?: number }; sinks: Record<string, Record<string, number>> } }[];
    };
    return doc.agents.map((a) => ({
      node: a.node,
      pod: a.pod,
      ...(a.status ? { startedAt: a.status.startedAt } : {}),
      kernelLost: a.status?.events.kernelLost ?? 0,
      profileLost: a.status?.sinks.profile?.lost ?? 0,
      backlog: a.status?.sinks.profile?.backlog ?? 0,
      unprotected: a.status?.kernelState?.unprotected ?? 0,
    }));
  }

  /**
   * Waits (up to 90 s) until every connect the window's client logged in [from, until] is in its
   * profiles — but those of an excused gap (undeploy only: no agent at all) — and checks that the
   * client had ports left at the window's end; then checks the accounting: the connects
   * still missing (outside an excused gap) are no more than what status counts as lost (kernel lost
   * + the profile sink's lost). The backlog is shown, not counted: the stream goes on, so it is
   * never 0, and 90 s is many flush intervals. `gap` without `excused`: the no-agent-process window,
   * measured and shown, not excused.
   */
  async function account(window: string, client: Client, from: number, until: number, gap?: { from: number; to: number; excused: boolean }) {
    let conns: Logged[] = [];
    let doneAt: number | undefined;
    let counts = new Map<number, number>();
    let agents: AgentFigures[] = [];
    const deadline = Date.now() + 90_000;
    for (;;) {
      const log = await logged(client);
      doneAt = log.doneAt;
      conns = log.conns.filter((c) => c.at >= from && c.at <= until);
      counts = await profiled(client);
      agents = await agentFigures();
      // The stream goes on, so the backlog is never 0: wait for the window's connects themselves.
      const missing = conns.filter((c) => !counts.has(c.port) && !(gap?.excused && c.at >= gap.from && c.at <= gap.to));
      if (missing.length === 0 && agents.every((a) => a.startedAt !== undefined)) break;
      if (Date.now() > deadline) break;
      await sleep(2000);
    }
    const inGap = gap ? conns.filter((c) => c.at >= gap.from && c.at <= gap.to) : [];
    const missing = conns.filter((c) => !counts.has(c.port));
    const missingOutsideGap = missing.filter((c) => !inGap.includes(c));
    const missingInGap = missing.length - missingOutsideGap.length;
    const lost = agents.reduce((n, a) => n + a.kernelLost + a.profileLost, 0);
    const backlog = agents.reduce((n, a) => n + a.backlog, 0);
    const result = {
      window,
      client,
      connects: conns.length,
      profiled: conns.length - missing.length,
      duplicates: conns.filter((c) => (counts.get(c.port) ?? 0) > 1).length,
      inGap: inGap.length,
      missingInGap,
      gapExcused: gap?.excused ?? false,
      missingOutsideGap: missingOutsideGap.map((c) => `${c.port}@${new Date(c.at).toISOString()}`),
      reportedLost: lost,
      backlog,
      gapMs: gap ? gap.to - gap.from : 0,
      windowMs: until - from,
      ...(doneAt !== undefined ? { clientDoneAt: new Date(doneAt).toISOString() } : {}),
      agents,
    };
    figures[window] = result;
    // eslint-disable-next-line no-console
    console.log(`durability ${window}: ${JSON.stringify(result)}`);
    // The stream ran to the window's end: the client had ports left when the window was counted.
    expect(doneAt === undefined || doneAt > until, `${client} ran out of ports before the window ended: ${JSON.stringify(result)}`).toBe(true);
    expect(conns.length).toBeGreaterThan(20); // the stream really ran through the window
    // The client ran on, never restarted (a restart would start its ports over).
    const state = (await node.kubectl(['-n', NS, 'get', 'pod', client, '-o', 'jsonpath={.status.phase} {.status.containerStatuses[0].restartCount}'])).stdout;
    expect(state).toBe('Running 0');
    // Every agent answered status (its figures are part of the count).
    expect(agents.every((a) => a.startedAt !== undefined), JSON.stringify(agents)).toBe(true);
    // Each connect is its own edge (a port of its own): a count above 1 would be a connect counted twice.
    expect(result.duplicates).toBe(0);
    // The accounting: what is missing (outside an excused gap) is no more than what status says was lost.
    const unexcused = missingOutsideGap.length + (gap?.excused ? 0 : missingInGap);
    expect(unexcused, JSON.stringify(result)).toBeLessThanOrEqual(lost);
    return result;
  }

  /** What the agents and the journal look like (printed when an accounting fails). */
  async function diagnose(): Promise<void> {
    const pods = (await node.kubectl(['get', 'pods', '-A', '-o', 'wide'], { allowFail: true })).stdout;
    const procs = execFileSync('bash', ['-c', "for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); case \"$c\" in *\" agent\"*) echo \"${p#/proc/} $c $(grep -o 'pod[0-9a-f_-]*' $p/cgroup | head -1)\";; esac; done"], { encoding: 'utf8' });
    const events = (await node.kubectl(['-n', AGENT_NS, 'get', 'events', '--sort-by=.lastTimestamp'], { allowFail: true })).stdout;
    const journal = execFileSync('nsenter', [`--target=${node.env.NETPOL_NODE_HOLDER_PID}`, '--mount', '--', 'sh', '-c', `cd /var/lib/netpol/${node.name}/profile && ls -la && wc -l seg-* && cat journal.id`], { encoding: 'utf8' });
    const profiles = JSON.parse((await node.kubectl(['-n', NS, 'get', 'trafficprofiles', '-o', 'json'])).stdout) as { items: TrafficProfile[] };
    const summary = profiles.items.map((p) => ({ name: p.metadata.name, node: p.spec.node, journal: p.status?.journal, edges: p.status?.edgeCount, lastWrite: p.status?.lastWrite }));
    const agentLogs = (await node.kubectl(['-n', AGENT_NS, 'logs', '-l', 'app.kubernetes.io/name=netpol-agent', '--tail=60', '--prefix'], { allowFail: true })).stdout;
    // eslint-disable-next-line no-console
    console.log(`diagnosis:\n${pods}\n${procs}\n${events}\n${journal}\n${JSON.stringify(summary)}\nagent logs:\n${agentLogs}`);
  }

  beforeAll(async () => {
    if (process.getuid?.() !== 0) throw new Error('these tests need root (a real node)');
    ensureBuilt();
    ensureBpfBuilt();
    work = mkdtempSync(join(tmpdir(), 'netpol-durable-'));
    node = await RealNode.start();
    pushNetpolImage(node, work);
    const r = await netpol(['deploy', '--timeout', '120s']);
    expect(r.code, r.stderr).toBe(0);
    const ports = Array.from({ length: PORTS }, (_, i) => String(FIRST_PORT + i));
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'server', namespace: NS, labels: { app: 'server' } },
        spec: { containers: [{ name: 'server', image: 'docker.io/netpol/tcpserver:latest', args: ports }] },
      },
    ];
    const file = join(work, 'server.yaml');
    writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
    await node.kubectl(['apply', '-f', file]);
    await node.kubectl(['-n', NS, 'wait', '--for=condition=Ready', 'pod/server', '--timeout=90s']);
    serverIP = (await node.kubectl(['-n', NS, 'get', 'pod', 'server', '-o', 'jsonpath={.status.podIP}'])).stdout;
    // The clients: each waits until told to go (go()), then makes one connect per port, in order,
    // a line per connect that succeeded, until its ports run out or it is told to stop.
    const loop =
      `until [ -e /tmp/go ]; do sleep 0.5; done; echo go; ` +
      `p=${FIRST_PORT}; while [ $p -lt ${FIRST_PORT + PORTS} ] && [ ! -e /tmp/stop ]; do ` +
      `if /tcpserver -probe -timeout 1s ${serverIP}:$p | grep -q open; then echo "ok $p"; else echo "fail $p"; fi; ` +
      `p=$((p+1)); sleep ${PERIOD_S}; done; ` +
      `if [ -e /tmp/stop ]; then echo stopped; else echo done; fi; sleep 3600`;
    const clients = CLIENTS.map((name) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: NS, labels: { app: name } },
      // Never restarted: a restart would start the ports over (a second connect to a port).
      spec: { restartPolicy: 'Never', containers: [{ name: 'client', image: 'docker.io/netpol/tcpserver:latest', command: ['sh', '-c', loop] }] },
    }));
    writeFileSync(file, clients.map((o) => stringify(o)).join('---\n'));
    await node.kubectl(['apply', '-f', file]);
    await node.kubectl(['-n', NS, 'wait', '--for=condition=Ready', ...CLIENTS.map((c) => `pod/${c}`), '--timeout=90s']);
  }, 400_000);

  afterAll(async () => {
    // eslint-disable-next-line no-console
    console.log(`node-durability figures: ${JSON.stringify(figures)}`);
    await node?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('(0) undisturbed: every connect is in the profile, once', async () => {
    await go('client-0');
    const from = Date.now();
    await sleep(15_000);
    const r = await account('undisturbed', 'client-0', from, Date.now());
    expect(r.missingInGap + r.missingOutsideGap.length).toBe(0);
  }, 180_000);

  it('(a) agent SIGKILLed and its pod recreated: every connect, those made while no agent process ran included, is profiled or counted lost', async () => {
    await go('client-a');
    const from = Date.now();
    await sleep(8_000);
    const old = (await agentPod())!;
    // The agent's process on the host: the one whose cgroup is its pod's (cgroupfs or systemd naming).
    const uid = old.uid;
    const pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        const cg = readFileSync(`/proc/${p}/cgroup`, 'utf8');
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
        return (cg.includes(uid) || cg.includes(uid.replaceAll('-', '_'))) && cmd.includes('agent');
      } catch {
        return false;
      }
    });
    expect(pids.length, `agent process of pod ${old.name} (${uid})`).toBe(1);
    const killedAt = Date.now();
    process.kill(Number(pids[0]), 'SIGKILL');
    await node.kubectl(['-n', AGENT_NS, 'delete', 'pod', old.name, '--grace-period=0', '--force', '--wait=false'], { allowFail: true });
    let fresh: { name: string } | undefined;
    for (let i = 0; i < 240 && (!fresh || fresh.name === old.name); i++) {
      await sleep(500);
      fresh = await agentPod();
    }
    expect(fresh && fresh.name !== old.name).toBe(true);
    const { pod: agent, at: attached, ended } = await attachedAt(fresh!.name, old.name);
    figures.sigkillEndedPods = ended;
    await sleep(8_000);
    const r = await account('sigkill', 'client-a', from, Date.now(), { from: killedAt, to: attached, excused: false }).catch(async (e: unknown) => {
      await diagnose();
      throw e;
    });
    // The new agent found the programs still attached and read what they recorded meanwhile.
    expect(await agentLog(agent)).toMatch(/kernel state reopened from \/sys\/fs\/bpf\/netpol\/v\d+-[0-9a-f]+/);
    const started = r.agents[0]!.startedAt!;
    // No agent process ran for a while (the window is real), and connects were made in it.
    expect(Date.parse(started)).toBeGreaterThan(killedAt);
    expect(r.inGap).toBeGreaterThan(0);
  }, 300_000);

  it('(b) API server restarted: every connect is profiled or counted lost', async () => {
    await go('client-b');
    const from = Date.now();
    await sleep(5_000);
    const pidFile = join(node.dir, 'pids', 'kube-apiserver.pid');
    const pid = readFileSync(pidFile, 'utf8').trim();
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const env = Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const stoppedAt = Date.now();
    // Stopped as a service manager stops it: SIGTERM, SIGKILL after 20 s (this API server does not
    // finish its graceful shutdown within 60 s while watches are open).
    process.kill(Number(pid), 'SIGTERM');
    for (let i = 0; i < 200 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(Number(pid), 'SIGKILL');
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    expect(alive(pid)).toBe(false);
    figures.apiserverStopMs = Date.now() - stoppedAt;
    await sleep(15_000); // the agent's writes fail meanwhile (at least one flush interval)
    const log = join(node.dir, 'logs', 'kube-apiserver.log');
    const child = node.spawnOnNode(['setsid', ...argv], { env, detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
    // The node's own start() writes the pid down.sh stops: setsid execs in place, so nsenter's child is it.
    child.unref();
    const deadline = Date.now() + 120_000;
    while ((await node.kubectl(['get', '--raw', '/readyz'], { allowFail: true })).code !== 0) {
      if (Date.now() > deadline) throw new Error(`the API server did not come back (${log})`);
      await sleep(500);
    }
    const restartedMs = Date.now() - stoppedAt;
    // The new process by its whole command line (other API servers on this machine run the same binary).
    const newPids = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && p !== pid && cmdline(p) === argv.join('\0'));
    expect(newPids).toHaveLength(1);
    writeFileSync(pidFile, newPids[0] + '\n');
    await sleep(5_000);
    const r = await account('apiserver-restart', 'client-b', from, Date.now());
    figures.apiserverDownMs = restartedMs;
    expect(r.missingInGap + r.missingOutsideGap.length).toBeLessThanOrEqual(r.reportedLost);
  }, 300_000);

  it("(d) the node's agent removed while learning, the DaemonSet staying (node excluded by a selector, then included): every connect is profiled or counted lost", async () => {
    await go('client-d');
    const from = Date.now();
    await sleep(5_000);
    const old = (await agentPod())!;
    const label = 'netpol-durability/agent';
    // Exclude the node: the DaemonSet controller deletes its pod (SIGTERM), the DaemonSet stays.
    const removedAt = Date.now();
    await node.kubectl(['-n', AGENT_NS, 'patch', 'daemonset', 'netpol-agent', '--type', 'merge', '-p', JSON.stringify({ spec: { template: { spec: { nodeSelector: { [label]: 'on' } } } } })]);
    for (let i = 0; i < 120 && (await agentPod()) !== undefined; i++) await sleep(500);
    expect(await agentPod(), 'the agent pod goes once its node is excluded').toBeUndefined();
    // Not removed for good: the programs stay pinned and attached while no agent runs.
    const kept = pins();
    expect(kept.progIds.length, JSON.stringify(kept)).toBeGreaterThanOrEqual(3);
    expect(kept.progIds.every(progExists)).toBe(true);
    await sleep(10_000); // connects go on with no agent on the node
    await node.kubectl(['label', 'node', node.name, `${label}=on`, '--overwrite']);
    let fresh: { name: string } | undefined;
    for (let i = 0; i < 240 && (!fresh || fresh.name === old.name); i++) {
      await sleep(500);
      fresh = await agentPod();
    }
    expect(fresh && fresh.name !== old.name).toBe(true);
    // The kubelet may refuse the first replacement (support/agent-pods.ts): the agent is the pod that runs.
    const { pod: agent, at: attached, ended } = await attachedAt(fresh!.name, old.name);
    figures.nodeExcludedEndedPods = ended;
    await sleep(8_000);
    const r = await account('node-excluded', 'client-d', from, Date.now(), { from: removedAt, to: attached, excused: false }).catch(async (e: unknown) => {
      await diagnose();
      throw e;
    });
    expect(await agentLog(agent)).toMatch(/kernel state reopened from/);
    expect(r.inGap).toBeGreaterThan(10); // ≥ 10 s with no agent process, connects all the while
  }, 300_000);

  it('(c) agent undeployed while learning and deployed again: connects outside the no-agent gap are profiled or counted lost', async () => {
    await go('client-c');
    const from = Date.now();
    await sleep(5_000);
    const old = await agentPod();
    expect(old, 'the agent pod before undeploy').toBeDefined();
    const before = pins();
    expect(before.progIds.length, JSON.stringify(before)).toBeGreaterThanOrEqual(3); // the programs pinned while deployed
    const undeployAt = Date.now();
    const un = await netpol(['undeploy', '--timeout', '90s']);
    expect(un.code, un.stderr).toBe(0);
    // Removed for good: nothing of netpol stays attached on the node — no pins, no programs.
    const after = pins();
    const stillLoaded = before.progIds.filter(progExists);
    figures.afterUndeploy = { pinsBefore: before.files.length, pinsAfter: after.files, programsBefore: before.progIds, programsLeft: stillLoaded };
    expect(after.files).toEqual([]);
    expect(stillLoaded).toEqual([]);
    await sleep(5_000);
    const dep = await netpol(['deploy', '--timeout', '120s']);
    if (dep.code !== 0) {
      await diagnose();
      // eslint-disable-next-line no-console
      console.log((await node.kubectl(['-n', AGENT_NS, 'logs', '-l', 'app.kubernetes.io/name=netpol-agent', '--tail=40'], { allowFail: true })).stdout);
      // eslint-disable-next-line no-console
      console.log((await netpol(['status', '-o', 'json'])).stdout);
    }
    expect(dep.code, dep.stderr).toBe(0);
    const fresh = (await agentPod())!;
    const { at: attached } = await attachedAt(fresh.name, old!.name);
    await sleep(8_000);
    // The old agent detaches its programs on SIGTERM, some time after undeploy starts and before its
    // sinks close: the gap is counted from the undeploy call (the earliest it can have begun).
    await account('undeploy-redeploy', 'client-c', from, Date.now(), { from: undeployAt, to: attached, excused: true });
  }, 400_000);
});
