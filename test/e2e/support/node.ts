/**
 * The real test node (test/node/up.sh) for e2e suites: kubelet, containerd, CNI, kube-proxy,
 * kube-network-policies and CoreDNS in a network and mount namespace of their own. A suite starts
 * it in beforeAll (startNode) and stops it in afterAll (node.stop()); the node's watchdog stops it
 * too when the vitest process goes away without its teardown.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { inject } from 'vitest';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '..', '..', '..');
const NODE_DIR = join(repo, 'test', 'node');

export interface NodeEnv {
  KUBECONFIG: string;
  NETPOL_NODE_NAME: string;
  NETPOL_NODE_IP: string;
  NETPOL_NODE_HOLDER_PID: string;
  NETPOL_NODE_BIN: string;
  NETPOL_OUTSIDE_HTTPS: string;
  NETPOL_OUTSIDE_HTTP: string;
  /** Every node's name, comma-separated. */
  NETPOL_NODE_NAMES: string;
  /** With { nodes: 2 }: the second node (a worker). */
  NETPOL_NODE_2_NAME?: string;
  NETPOL_NODE_2_IP?: string;
  NETPOL_NODE_2_NETNS?: string;
  NETPOL_NODE_2_HOLDER_PID?: string;
}

export class RealNode {
  private constructor(
    readonly dir: string,
    readonly env: NodeEnv,
    /** Milliseconds up.sh took (to Ready, CoreDNS answering, registry serving). */
    readonly startMs: number,
  ) {}

  /** Starts the node (with { nodes: 2 }, two: NETPOL_NODES=2 test/node/up.sh). */
  static async start(opts: { nodes?: 1 | 2 } = {}): Promise<RealNode> {
    const dir = mkdtempSync(join(tmpdir(), 'netpol-node-'));
    const t0 = Date.now();
    try {
      await run('bash', [join(NODE_DIR, 'up.sh'), dir], {
        env: { ...process.env, NETPOL_NODE_OWNER_PID: String(ownerPid()), NETPOL_NODES: String(opts.nodes ?? 1) },
        maxBuffer: 1 << 24,
      });
    } catch (e) {
      const err = e as { stderr?: string };
      throw new Error(`test/node/up.sh failed:\n${err.stderr ?? String(e)}`);
    }
    const env = Object.fromEntries(
      readFileSync(join(dir, 'env'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    ) as unknown as NodeEnv;
    return new RealNode(dir, env, Date.now() - t0);
  }

  get kubeconfig(): string {
    return this.env.KUBECONFIG;
  }

  get name(): string {
    return this.env.NETPOL_NODE_NAME;
  }

  /** kubectl (the node's own build) against the node; resolves with its output, rejects on failure. */
  async kubectl(args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(join(this.env.NETPOL_NODE_BIN, 'kubectl'), ['--kubeconfig', this.kubeconfig, ...args], {
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 1 << 24,
      });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      if (!opts.allowFail) throw new Error(`kubectl ${args.join(' ')} failed: ${err.stderr ?? String(e)}`);
      return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  }

  /**
   * Spawns argv on the node's side: in its network and mount namespaces (where containerd's state
   * lives and tracefs/bpffs are mounted), as an agent on a real node runs.
   */
  spawnOnNode(argv: string[], opts: SpawnOptions = {}): ChildProcess {
    return spawn('nsenter', [`--target=${this.env.NETPOL_NODE_HOLDER_PID}`, '--net', '--mount', '--', ...argv], opts);
  }

  async stop(): Promise<void> {
    await run('bash', [join(NODE_DIR, 'down.sh'), this.dir]);
    if (!process.env.NETPOL_KEEP_NODE_DIR) rmSync(this.dir, { recursive: true, force: true });
  }
}

function ownerPid(): number {
  try {
    return inject('netpolClusterOwner');
  } catch {
    return process.pid;
  }
}
