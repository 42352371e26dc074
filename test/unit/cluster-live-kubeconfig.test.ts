// Which cluster, identity and namespace a live command uses: kubectl's rules, without a cluster.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadKubeconfig } from '../../src/cluster/kubeconfig.js';
import { describeApiError, WATCHED_KINDS } from '../../src/cluster/live.js';
import { EnvironmentError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, contexts: Array<{ name: string; namespace?: string; server?: string }>, current?: string): string {
  const path = join(dir, name);
  const lines = ['apiVersion: v1', 'kind: Config', 'clusters:'];
  for (const c of contexts) lines.push(`- name: ${c.name}-cluster`, '  cluster:', `    server: ${c.server ?? `https://127.0.0.1:6443`}`);
  lines.push('users:');
  for (const c of contexts) lines.push(`- name: ${c.name}-user`, '  user:', '    token: t');
  lines.push('contexts:');
  for (const c of contexts) {
    lines.push(`- name: ${c.name}`, '  context:', `    cluster: ${c.name}-cluster`, `    user: ${c.name}-user`);
    if (c.namespace) lines.push(`    namespace: ${c.namespace}`);
  }
  if (current) lines.push(`current-context: ${current}`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

describe('loadKubeconfig', () => {
  let saved: { KUBECONFIG?: string; HOME?: string };
  beforeEach(() => {
    saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
    process.env.HOME = dir; // no ~/.kube/config here
  });
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('uses the current context and its namespace, default "default"', () => {
    const file = kubeconfig('a', [{ name: 'dev', namespace: 'shop', server: 'https://10.0.0.1:6443' }, { name: 'prod' }], 'dev');
    expect(loadKubeconfig({ kubeconfig: file })).toMatchObject({ context: 'dev', namespace: 'shop', server: 'https://10.0.0.1:6443', description: 'context dev (https://10.0.0.1:6443)' });
    expect(loadKubeconfig({ kubeconfig: file, context: 'prod' })).toMatchObject({ context: 'prod', namespace: 'default' });
    expect(loadKubeconfig({ kubeconfig: file, context: 'prod', namespace: 'x' }).namespace).toBe('x');
  });

  it('merges $KUBECONFIG lists; --kubeconfig wins over it', () => {
    const first = kubeconfig('b1', [{ name: 'one', namespace: 'n1' }], 'one');
    const second = kubeconfig('b2', [{ name: 'two', namespace: 'n2' }]);
    process.env.KUBECONFIG = `${first}:${second}`;
    expect(loadKubeconfig().context).toBe('one');
    expect(loadKubeconfig({ context: 'two' }).namespace).toBe('n2');
    expect(loadKubeconfig({ kubeconfig: kubeconfig('b3', [{ name: 'three' }], 'three') }).context).toBe('three');
  });

  it('says what is wrong: unknown context, missing file, nothing configured', () => {
    const file = kubeconfig('c', [{ name: 'dev' }, { name: 'prod' }], 'dev');
    expect(() => loadKubeconfig({ kubeconfig: file, context: 'staging' })).toThrow(/context "staging" is not in the kubeconfig\n {2}hint: known contexts: dev, prod/);
    expect(() => loadKubeconfig({ kubeconfig: join(dir, 'nope') })).toThrow(EnvironmentError);
    delete process.env.KUBECONFIG;
    expect(() => loadKubeconfig()).toThrow(/no cluster to talk to/);
  });
});

describe('describeApiError', () => {
  const pods = WATCHED_KINDS.find((k) => k.kind === 'Pod');
  it('turns HTTP and socket errors into sentences', () => {
    expect(describeApiError({ statusCode: 403 }, pods, 'https://x')).toBe('cannot list/watch pods at https://x: forbidden (see deploy/rbac.yaml for the permissions netpol needs)');
    expect(describeApiError({ statusCode: 401 }, pods, 'https://x')).toMatch(/unauthorized/);
    expect(describeApiError({ code: 'ECONNREFUSED' }, pods, 'https://x')).toBe('cannot list/watch pods: nothing listens at https://x (connection refused)');
  });
  it('watches every kind a cluster view holds', () => {
    expect(new Set(WATCHED_KINDS.map((k) => k.list))).toEqual(new Set(['namespaces', 'pods', 'services', 'nodes', 'endpointSlices', 'networkPolicies', 'owners']));
    expect(WATCHED_KINDS.filter((k) => k.list === 'owners').map((k) => k.kind).sort()).toEqual(['CronJob', 'DaemonSet', 'Deployment', 'Job', 'ReplicaSet', 'StatefulSet']);
  });
});
