import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse, parseAllDocuments } from 'yaml';
import { normalizeIngressPeers, type V1NetworkPolicy } from '../../src/cluster/objects.js';
import { KUSTOMIZATION_HEADER, renderKustomization, renderPolicies, renderPolicy } from '../../src/policy/render.js';
import { emitYaml, yamlScalar } from '../../src/policy/yaml-emit.js';

/** The same policy, built with keys in scrambled order and client-node's `_from`, entering netpol as every policy does (normalized). */
const scrambled = normalizeIngressPeers({
  spec: {
    egress: [{ ports: [{ port: 443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '192.0.2.1/32' } }] }],
    ingress: [
      {
        ports: [{ endPort: 8090, port: 8080, protocol: 'TCP' }],
        _from: [{ podSelector: { matchLabels: { z: '1', a: '2' } }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } }],
      },
    ],
    policyTypes: ['Ingress', 'Egress'],
    podSelector: { matchLabels: { tier: 'web', app: 'shop' } },
  },
  metadata: { annotations: { 'netpol.io/workload': 'Deployment/web' }, labels: { 'app.kubernetes.io/managed-by': 'netpol' }, namespace: 'default', name: 'web' },
  kind: 'NetworkPolicy',
  apiVersion: 'networking.k8s.io/v1',
} as unknown as V1NetworkPolicy);

const EXPECTED = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: default
  labels:
    app.kubernetes.io/managed-by: netpol
  annotations:
    netpol.io/workload: Deployment/web
spec:
  podSelector:
    matchLabels:
      app: shop
      tier: web
  policyTypes:
    - Ingress
    - Egress
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: other
          podSelector:
            matchLabels:
              a: "2"
              z: "1"
      ports:
        - protocol: TCP
          port: 8080
          endPort: 8090
  egress:
    - to:
        - ipBlock:
            cidr: 192.0.2.1/32
      ports:
        - protocol: TCP
          port: 443
`;

describe('renderPolicy', () => {
  it('puts keys in the conventional order whatever order the object has, and writes `from`', () => {
    expect(renderPolicy(scrambled)).toBe(EXPECTED);
  });

  it('is byte-identical across calls and round-trips through a YAML parser', () => {
    expect(renderPolicy(scrambled)).toBe(renderPolicy(structuredClone(scrambled)));
    const back = parseAllDocuments(EXPECTED)[0]!.toJS();
    expect(renderPolicy(back)).toBe(EXPECTED);
  });

  it('renders an empty podSelector as {} and quotes strings that would read as other types', () => {
    const p = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'x', namespace: 'd', labels: { on: 'true', num: '010' } }, spec: { podSelector: {} } };
    const text = renderPolicy(p);
    expect(text).toContain('podSelector: {}');
    // YAML 1.1 (kubectl's reader) takes `on` for a boolean, even as a key.
    expect(text).toContain('"on": "true"');
    expect(text).toContain('num: "010"');
  });

});

describe('renderPolicies', () => {
  it('writes one document per policy in the given order', () => {
    const other = { ...scrambled, metadata: { ...scrambled.metadata, name: 'api' } };
    const text = renderPolicies([scrambled, other]);
    const docs = parseAllDocuments(text);
    expect(docs.map((d) => (d.toJS() as V1NetworkPolicy).metadata?.name)).toEqual(['web', 'api']);
    expect(text.startsWith('---\napiVersion')).toBe(true);
  });
});

describe('renderKustomization', () => {
  it('lists resources sorted and deduplicated under a netpol header', () => {
    expect(renderKustomization(['default/web.yaml', 'data/db.yaml', 'default/web.yaml'])).toBe(
      `${KUSTOMIZATION_HEADER}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - data/db.yaml
  - default/web.yaml
`,
    );
  });
});

describe('emitYaml', () => {
  const tricky = ['on', 'Off', 'yes', 'N', 'null', '~', 'true', '010', '0x1F', '1e3', '1_000', '12:30', '2026-11-25', '.inf', '-', '- x', 'a: b', 'a #b', '#x', '', ' lead', 'trail ', "it's", 'say "hi"', 'line\nbreak', 'tab\there', 'ünï', '@x', '*ref', '&a', '!tag', '%x', '[a]', '{a}', '?', '|', '>', '10.0.0.0/8', '2001:db8::/32', 'app.kubernetes.io/name', 'TCP', 'e0', 'E12', 'e_1'];

  it('writes strings so that YAML 1.1 and 1.2 readers both read them back as the same strings', () => {
    for (const s of tricky) {
      const text = emitYaml({ [s]: s, list: [s] });
      for (const version of ['1.1', '1.2'] as const) {
        expect(parse(text, { version }), `${JSON.stringify(s)} (YAML ${version}):\n${text}`).toEqual({ [s]: s, list: [s] });
      }
    }
  });

  it('keeps labels, names and CIDRs plain', () => {
    expect(['app.kubernetes.io/managed-by', 'web-1', 'TCP', '192.0.2.0/24', '2001:db8::1/128'].map(yamlScalar)).toEqual([
      'app.kubernetes.io/managed-by',
      'web-1',
      'TCP',
      '192.0.2.0/24',
      '2001:db8::1/128',
    ]);
  });

  it('never writes a short word plain that a YAML reader takes for something else (exhaustive, 1-2 characters)', () => {
    const chars = 'aeEfFnNoOuUxXyY0189_-./~';
    const words = [...chars].flatMap((a) => [a, ...[...chars].map((b) => a + b)]);
    for (const w of words) {
      const text = emitYaml({ k: w });
      for (const version of ['1.1', '1.2'] as const) expect(parse(text, { version }), `${w} (YAML ${version})`).toEqual({ k: w });
    }
  });

  it('round-trips any JSON-shaped document (property)', () => {
    const key = fc.oneof(fc.string(), fc.constantFrom(...tricky));
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.oneof(fc.string(), fc.constantFrom(...tricky)),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(key, tie('value'), { maxKeys: 4 }),
      ),
    }));
    fc.assert(
      fc.property(fc.dictionary(key, json.value, { maxKeys: 5 }), (doc) => {
        const text = emitYaml(doc as never);
        for (const version of ['1.1', '1.2'] as const) expect(parse(text, { version, uniqueKeys: false })).toEqual(doc);
      }),
      { numRuns: 300 },
    );
  });
});
