/**
 * Real TCP connects between pods, for `netpol probe`: each source pod is asked, through the API
 * server's pod exec (what `kubectl exec` uses), to connect to every target in one go, and reports
 * one line per target. What a probe sees is what the cluster's dataplane did — the predicted
 * verdicts are the CLI's business (src/cli/probe.ts); this module only measures.
 *
 * In the source container the probe runs `/tcpserver -probe` when the image has it (netpol's probe
 * image, test/node/images), else busybox/netcat `nc` under a hard `timeout`. With nc a target
 * that accepts but never closes reads as "timeout": probe such ports from the probe image.
 */
import { PassThrough } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';

export interface ProbeTarget {
  ip: string;
  port: number;
}

export interface ProbeResult extends ProbeTarget {
  /** True when the packets got through: the handshake completed, or the pod refused (nothing listens). */
  connected: boolean;
  /** What the source reported (for disagreements): "open", "refused", "timeout", … */
  detail: string;
}

/** The shell script a source pod runs: one `ip port result` line per target. */
export function probeScript(targets: readonly ProbeTarget[], timeoutSeconds: number): string {
  const list = targets.map((t) => `${t.ip}:${t.port}`).join(' ');
  const t = Math.max(1, Math.round(timeoutSeconds));
  return [
    `if [ -x /tcpserver ]; then exec /tcpserver -probe -timeout ${t}s ${list}; fi`,
    `for target in ${list}; do`,
    `  ip=\${target%:*}; port=\${target##*:}`,
    // No nc -w: busybox nc exits 1 on its own timeout, like a refusal; timeout(1) exits ≥ 124.
    `  timeout ${t} nc "$ip" "$port" </dev/null >/dev/null 2>&1; code=$?`,
    `  if [ $code -eq 0 ]; then echo "$ip $port open"; elif [ $code -ge 124 ]; then echo "$ip $port timeout"; else echo "$ip $port refused"; fi`,
    `done`,
  ].join('\n');
}

/** Parses the lines of probeScript (or /tcpserver -probe): `ip port open|refused|timeout|…`. */
export function parseProbeOutput(text: string, targets: readonly ProbeTarget[]): ProbeResult[] {
  const seen = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\d+) (\S+)$/.exec(line.trim());
    if (m) seen.set(`${m[1]}:${m[2]}`, m[3]!);
  }
  return targets.map((t) => {
    const detail = seen.get(`${t.ip}:${t.port}`) ?? 'no answer from the probe';
    // Refused: the SYN reached the pod, which answered with a reset (nothing listens there), so the
    // network let it through. Dataplanes that enforce NetworkPolicy drop (kube-network-policies
    // does); one that rejected with resets instead would read as reachable here.
    return { ...t, connected: detail === 'open' || detail === 'refused', detail };
  });
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exec's status: Success, or the failure message (exit code, container not found). */
  status: string;
}

/** Runs a command in a pod's container through the API server (the websocket exec subresource). */
export async function execInPod(kc: KubeConfig, namespace: string, pod: string, container: string, command: string[], timeoutMs: number): Promise<ExecResult> {
  const { Exec } = await import('@kubernetes/client-node');
  const exec = new Exec(kc);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise<ExecResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec in ${namespace}/${pod} did not finish within ${timeoutMs} ms`)), timeoutMs);
    exec
      .exec(namespace, pod, container, command, stdout, stderr, null, false, (status) => {
        clearTimeout(timer);
        // The status arrives before the streams' last chunks are read: let them drain.
        setImmediate(() => resolve({ stdout: out, stderr: err, status: status.status === 'Success' ? 'Success' : (status.message ?? status.status ?? 'unknown') }));
      })
      .catch((e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      });
  });
}

/** Every target probed from one pod's container. */
export async function probeFromPod(
  kc: KubeConfig,
  source: { namespace: string; pod: string; container: string },
  targets: readonly ProbeTarget[],
  timeoutSeconds: number,
): Promise<ProbeResult[]> {
  if (targets.length === 0) return [];
  // Targets run one after another: the exec's own deadline allows every one its timeout.
  const budget = (targets.length * (Math.max(1, Math.round(timeoutSeconds)) + 2) + 10) * 1000;
  const r = await execInPod(kc, source.namespace, source.pod, source.container, ['sh', '-c', probeScript(targets, timeoutSeconds)], budget);
  return parseProbeOutput(r.stdout, targets);
}
