/**
 * Dynamic completion against the real API server: namespaces, pods' containers and kubeconfig
 * contexts through `netpol __complete` (cobra's protocol), through the bash script, and through
 * kubectl's own plugin completion, which runs `kubectl_complete-netpol`. Without a cluster, or
 * with one that never answers, completion is empty and quick, never an error.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ensureBuilt, ROOT } from '../support/cli.js';
import { createNamespace, createRunningPod, ensureCluster, type TestCluster } from './support/cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-complete-'));
const bin = join(dir, 'bin');
const COMPLETER = join(ROOT, 'dist/cli/kubectl-complete.js');
let cluster: TestCluster;
let ns: string;
let silent: net.Server;

beforeAll(async () => {
  ensureBuilt();
  cluster = await ensureCluster();
  ns = await createNamespace(cluster, 'complete');
  await createRunningPod(cluster, ns, { name: 'web', containers: [{ name: 'nginx' }, { name: 'sidecar' }] }, { ips: ['10.250.0.7'] });
  mkdirSync(bin);
  // As npm links the package's bins.
  symlinkSync(CLI, join(bin, 'netpol'));
  symlinkSync(CLI, join(bin, 'kubectl-netpol'));
  symlinkSync(COMPLETER, join(bin, 'kubectl_complete-netpol'));
  // A loopback server that accepts connections and never answers: a cluster that hangs.
  silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
}, 600_000);

afterAll(() => silent?.close());

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, KUBECONFIG: cluster.kubeconfig, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

const values = (out: string) => out.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => l.split('\t')[0]);

describe('netpol __complete', () => {
  it('completes namespaces from the cluster', () => {
    const r = run('netpol', ['__complete', 'learn', '-n', '']);
    expect(r.code).toBe(0);
    expect(values(r.stdout)).toContain(ns);
    expect(values(r.stdout)).toContain('default');
    expect(r.stdout.endsWith(':4\n')).toBe(true);
  });

  it("completes a pod's containers in the namespace the words name", () => {
    const r = run('netpol', ['__complete', 'trace', 'tcpconnect', '-n', ns, '--podname', 'web', '-c', '']);
    expect(values(r.stdout)).toEqual(['nginx', 'sidecar']);
    expect(values(run('netpol', ['__complete', 'trace', 'tcpconnect', '-n', ns, '--podname', '']).stdout)).toEqual(['web']);
  });

  it('completes contexts from the kubeconfig', () => {
    expect(values(run('netpol', ['__complete', 'learn', '--context', 'netpol-']).stdout)).toEqual(['netpol-admin', 'netpol-rbac']);
  });

  it('is empty, exit 0, without a kubeconfig', () => {
    const r = run('netpol', ['__complete', 'learn', '-n', ''], { KUBECONFIG: join(dir, 'none'), HOME: dir });
    expect(r).toMatchObject({ code: 0, stdout: ':4\n', stderr: '' });
  });

  it('gives up quietly on a cluster that does not answer', () => {
    const kubeconfig = join(dir, 'silent.kubeconfig');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: s, cluster: {server: "http://127.0.0.1:${(silent.address() as net.AddressInfo).port}"}}]\n` +
        'users: [{name: u, user: {}}]\ncontexts: [{name: s, context: {cluster: s, user: u}}]\ncurrent-context: s\n',
    );
    // The server hangs: spawnSync would block our own event loop (and with it the server), so it runs in a child shell.
    const r = run('bash', ['-c', `netpol __complete learn -n ''`], { KUBECONFIG: kubeconfig });
    expect(r).toMatchObject({ code: 0, stdout: ':4\n', stderr: '' });
    expect(r.ms).toBeLessThan(5000);
  });
});

describe('through the shells and kubectl', () => {
  it('the bash script asks the cluster for namespaces', () => {
    const script = join(dir, 'netpol.bash');
    writeFileSync(script, run('netpol', ['completion', 'bash']).stdout);
    const r = run('bash', ['-c', `source ${script}; COMP_WORDS=(netpol learn -n ''); COMP_CWORD=3; _netpol; printf '%s\\n' "\${COMPREPLY[@]}"`]);
    expect(r.stdout.split('\n')).toContain(ns);
  });

  it('the zsh script asks the cluster for namespaces', () => {
    const script = join(dir, '_netpol');
    writeFileSync(script, run('netpol', ['completion', 'zsh']).stdout);
    // compadd stubbed to print what it is given: the values the script would offer.
    const r = run('zsh', ['-f', '-c', `source ${script} 2>/dev/null; compadd() { shift; print -l -- \${(P)1}; }; words=(netpol learn -n ''); CURRENT=4; _netpol_dynamic`]);
    expect(r.stdout.split('\n')).toContain(ns);
  });

  it('the fish script asks the cluster for namespaces', () => {
    const script = join(dir, 'netpol.fish');
    writeFileSync(script, run('netpol', ['completion', 'fish']).stdout);
    const r = run('fish', ['--no-config', '-c', `source ${script}; complete -C 'netpol learn -n '`]);
    expect(r.stdout.split('\n').map((l) => l.split('\t')[0])).toContain(ns);
  });

  it('kubectl completes the plugin through kubectl_complete-netpol', () => {
    const r = run('kubectl', ['__complete', 'netpol', 'trace', 'tcpconnect', '-n', ns, '--podname', 'web', '-c', '']);
    expect(r.code).toBe(0);
    expect(values(r.stdout)).toEqual(['nginx', 'sidecar']);
    const cmds = run('kubectl', ['__complete', 'netpol', '']);
    expect(values(cmds.stdout)).toEqual(expect.arrayContaining(['learn', 'diff', 'check', 'version']));
  });
});
