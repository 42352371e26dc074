import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { loadPolicies, loadPolicyFiles, policyFiles } from '../../src/policy/load.js';

const root = mkdtempSync(join(tmpdir(), 'netpol-load-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** Writes files (path → text) under a fresh directory and returns it. */
function tree(files: Record<string, string>): string {
  const dir = join(root, `t${counter++}`);
  mkdirSync(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function policy(name: string, namespace?: string): string {
  return [
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    'metadata:',
    `  name: ${name}`,
    ...(namespace ? [`  namespace: ${namespace}`] : []),
    'spec:',
    '  podSelector: {}',
    '',
  ].join('\n');
}

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}

const names = (paths: string[]) => loadPolicies(paths).map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`);

describe('loadPolicies', () => {
  it('reads every document of a multi-document file, defaulting the namespace', () => {
    const dir = tree({ 'p.yaml': `${policy('a')}---\n${policy('b', 'prod')}---\n` });
    expect(names([join(dir, 'p.yaml')])).toEqual(['default/a', 'prod/b']);
  });

  it('uses the given default namespace', () => {
    const dir = tree({ 'p.yaml': policy('a') });
    expect(loadPolicies([join(dir, 'p.yaml')], { defaultNamespace: 'team' })[0]!.metadata?.namespace).toBe('team');
  });

  it('flattens Lists (kubectl get -o yaml)', () => {
    const indent = (s: string) => s.trimEnd().split('\n').map((l, i) => (i === 0 ? `- ${l}` : `  ${l}`)).join('\n');
    const list = ['apiVersion: v1', 'kind: List', 'items:', indent(policy('x', 'ns1')), indent(policy('y', 'ns2')), ''].join('\n');
    const typed = list.replace('kind: List', 'kind: NetworkPolicyList').replace('apiVersion: v1', 'apiVersion: networking.k8s.io/v1');
    const dir = tree({ 'list.yaml': list, 'typed.yaml': typed.replaceAll('name: x', 'name: x2').replaceAll('name: y', 'name: y2') });
    expect(names([join(dir, 'list.yaml'), join(dir, 'typed.yaml')])).toEqual(['ns1/x', 'ns2/y', 'ns1/x2', 'ns2/y2']);
  });

  it('walks directories recursively in sorted order, skipping kustomization.yaml, hidden and non-YAML files', () => {
    const dir = tree({
      'prod/web.yaml': policy('web', 'prod'),
      'default/z.yml': policy('z'),
      'default/a.yaml': policy('a'),
      'kustomization.yaml': 'resources:\n- default/a.yaml\n',
      'default/kustomization.yml': 'resources: []\n',
      'README.md': '# not yaml',
      '.git/config.yaml': 'kind: Nope\n',
      'B.yaml': policy('upper'),
    });
    expect(policyFiles([dir]).map((f) => f.slice(dir.length + 1))).toEqual(['B.yaml', 'default/a.yaml', 'default/z.yml', 'prod/web.yaml']);
    expect(names([dir])).toEqual(['default/upper', 'default/a', 'default/z', 'prod/web']);
  });

  it('loads an explicitly named file whatever its extension, files and directories mixed in the order given', () => {
    const dir = tree({ 'one.txt': policy('one'), 'd/two.yaml': policy('two') });
    expect(names([join(dir, 'd'), join(dir, 'one.txt')])).toEqual(['default/two', 'default/one']);
  });

  it('a file reached twice (its directory and itself) is read once', () => {
    const dir = tree({ 'a.yaml': policy('a'), 'b.yaml': policy('b') });
    expect(names([dir, join(dir, 'b.yaml'), `${dir}/./a.yaml`])).toEqual(['default/a', 'default/b']);
  });

  it('an empty directory holds no policies', () => {
    const dir = tree({ 'notes.txt': 'x' });
    expect(loadPolicies([dir])).toEqual([]);
  });

  it('keeps file and line of each policy', () => {
    const dir = tree({ 'p.yaml': `${policy('a')}---\n${policy('b')}` });
    expect(loadPolicyFiles([join(dir, 'p.yaml')]).map((p) => [p.policy.metadata?.name, p.line])).toEqual([
      ['a', 1],
      ['b', 8],
    ]);
  });

  it('a missing path is an error naming it', () => {
    const e = inputError(() => loadPolicies([join(root, 'nope')]));
    expect(e.message).toBe(`${join(root, 'nope')}: no such file or directory`);
  });

  it('another kind is an error naming file and line', () => {
    const dir = tree({ 'p.yaml': `${policy('a')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n` });
    const e = inputError(() => loadPolicies([dir]));
    expect([e.source, e.line, e.field]).toEqual([join(dir, 'p.yaml'), 8, 'kind']);
    expect(e.detail).toBe('expected only NetworkPolicy objects, found kind ConfigMap');
  });

  it('invalid YAML is an error naming file and line', () => {
    const dir = tree({ 'p.yaml': `${policy('a')}---\nkind: NetworkPolicy\nmetadata: {name: [unclosed\n` });
    const e = inputError(() => loadPolicies([dir]));
    expect(e.source).toBe(join(dir, 'p.yaml'));
    expect(e.line).toBeGreaterThanOrEqual(10);
    expect(e.detail).toMatch(/invalid YAML/);
  });

  it('a policy the API server would reject is an error at the line of the field', () => {
    const text = [
      policy('ok').trimEnd(),
      '---',
      'apiVersion: networking.k8s.io/v1',
      'kind: NetworkPolicy',
      'metadata:',
      '  name: bad',
      'spec:',
      '  podSelector: {}',
      '  egress:',
      '  - ports:',
      '    - port: 80',
      '    - port: 8000',
      '      endPort: 10',
      '',
    ].join('\n');
    const dir = tree({ 'p.yaml': text });
    const e = inputError(() => loadPolicies([dir]));
    expect(e.message).toBe(`${join(dir, 'p.yaml')}:18: spec.egress[0].ports[1].endPort: NetworkPolicy bad: invalid value 10: must be greater than or equal to \`port\` (8000)`);
  });

  it('field lines work inside Lists too', () => {
    const text = [
      'apiVersion: v1',
      'kind: List',
      'items:',
      '- apiVersion: networking.k8s.io/v1',
      '  kind: NetworkPolicy',
      '  metadata: {name: ok}',
      '- apiVersion: networking.k8s.io/v1',
      '  kind: NetworkPolicy',
      '  metadata: {name: bad}',
      '  spec:',
      '    policyTypes: [Ingress, Sideways]',
      '',
    ].join('\n');
    const dir = tree({ 'l.yaml': text });
    const e = inputError(() => loadPolicies([dir]));
    expect([e.line, e.field]).toEqual([11, 'spec.policyTypes[1]']);
  });

  it('an unknown field points at its own line', () => {
    const dir = tree({ 'p.yaml': `${policy('a').trimEnd()}\n  ingres: []\n` });
    const e = inputError(() => loadPolicies([dir]));
    expect([e.line, e.field]).toEqual([7, 'spec.ingres']);
  });

  it('a policy defined twice is an error naming both places', () => {
    const dir = tree({ 'a.yaml': policy('same'), 'b.yaml': policy('same', 'default') });
    const e = inputError(() => loadPolicies([dir]));
    expect(e.message).toBe(`${join(dir, 'b.yaml')}:1: metadata.name: NetworkPolicy default/same is defined twice (first at ${join(dir, 'a.yaml')}:1)`);
  });

  it('the same name in two namespaces is fine', () => {
    const dir = tree({ 'a.yaml': policy('same'), 'b.yaml': policy('same', 'prod') });
    expect(names([dir])).toEqual(['default/same', 'prod/same']);
  });
});
