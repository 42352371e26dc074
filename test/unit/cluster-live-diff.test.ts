// Semantic policy diff (src/policy/semantic-diff.ts) and the live diff's scoping (src/cluster/live-diff.ts).
import { describe, expect, it } from 'vitest';
import { liveDiff, policyYaml } from '../../src/policy/live-diff.js';
import { normalizeIngressPeers, type V1NetworkPolicy } from '../../src/cluster/objects.js';
import { formatSemanticDiff, normalizePolicy, semanticDiff } from '../../src/policy/semantic-diff.js';

const seed: V1NetworkPolicy = {
  metadata: { name: 'mypod', namespace: 'default' },
  spec: {
    podSelector: { matchLabels: { run: 'mypod' } },
    policyTypes: ['Egress'],
    egress: [
      { to: [{ ipBlock: { cidr: '1.1.1.1/32' } }], ports: [{ protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 443 }] },
      { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] },
    ],
  },
};

function clone(np: V1NetworkPolicy): V1NetworkPolicy {
  return JSON.parse(JSON.stringify(np)) as V1NetworkPolicy;
}

describe('semanticDiff', () => {
  it('sees no change in rewritings that allow the same', () => {
    const rewritten: V1NetworkPolicy = {
      metadata: { name: 'mypod', namespace: 'default' },
      spec: {
        // matchLabels as an In expression; rules split, reordered, duplicated; default protocol.
        podSelector: { matchExpressions: [{ key: 'run', operator: 'In', values: ['mypod'] }] },
        policyTypes: ['Egress'],
        egress: [
          { ports: [{ port: 53 }, { protocol: 'UDP', port: 53 }] },
          { to: [{ ipBlock: { cidr: '1.1.1.1/32' } }], ports: [{ port: 443 }] },
          { to: [{ ipBlock: { cidr: '1.1.1.1/32' } }], ports: [{ protocol: 'TCP', port: 80 }] },
          { to: [{ ipBlock: { cidr: '1.1.1.1/32' } }], ports: [{ protocol: 'TCP', port: 80 }] },
          // Already allowed by the any-peer rule on TCP/53.
          { to: [{ ipBlock: { cidr: '1.1.1.1/32' } }], ports: [{ protocol: 'TCP', port: 53 }] },
        ],
      },
    };
    const d = semanticDiff([seed], [rewritten]);
    expect(d).toMatchObject({ added: [], removed: [], changed: [], unchanged: [{ namespace: 'default', name: 'mypod' }] });
    expect(formatSemanticDiff(d)).toBe('');
  });

  it('names each allowed pair that appears or disappears', () => {
    const wider = clone(seed);
    wider.spec!.egress![0]!.to!.push({ ipBlock: { cidr: '1.0.0.1/32' } });
    wider.spec!.egress![0]!.ports!.pop();
    const d = semanticDiff([seed], [wider]);
    expect(d.changed).toEqual([
      {
        namespace: 'default',
        name: 'mypod',
        details: ['egress: + allows ipBlock 1.0.0.1/32 on TCP/80', 'egress: - no longer allows ipBlock 1.1.1.1/32 on TCP/443'],
      },
    ]);
  });

  it('tells policyTypes defaults, selectors and peer namespaces apart', () => {
    const implicit = clone(seed);
    delete implicit.spec!.policyTypes;
    // With egress rules and no policyTypes, the API default is Ingress + Egress: a change.
    expect(semanticDiff([seed], [implicit]).changed[0]!.details).toEqual(['policyTypes: egress → egress,ingress']);

    // As client-node hands it over (`_from`), entering netpol through the normalizer.
    const a = normalizeIngressPeers<V1NetworkPolicy>({ metadata: { name: 'p', namespace: 'shop' }, spec: { podSelector: {}, ingress: [{ _from: [{ podSelector: { matchLabels: { app: 'web' } } }] }] } });
    const b: V1NetworkPolicy = {
      metadata: { name: 'p', namespace: 'shop' },
      spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'web' } } }] } as never] },
    };
    expect(normalizePolicy(a).allows.ingress).toEqual(['namespace shop pods {app=web} on any port']);
    expect(normalizePolicy(b).allows.ingress).toEqual(['namespaces {} pods {app=web} on any port']);
    expect(semanticDiff([a], [b]).changed).toHaveLength(1);
  });

  it('reports added and removed policies', () => {
    const other = { ...clone(seed), metadata: { name: 'other', namespace: 'default' } };
    const d = semanticDiff([other], [seed]);
    expect(d.added.map((p) => p.name)).toEqual(['mypod']);
    expect(d.removed.map((p) => p.name)).toEqual(['other']);
    expect(formatSemanticDiff(d)).toBe(
      [
        '+ default/mypod (only in files)',
        '    egress: + allows any peer on TCP/53',
        '    egress: + allows any peer on UDP/53',
        '    egress: + allows ipBlock 1.1.1.1/32 on TCP/443',
        '    egress: + allows ipBlock 1.1.1.1/32 on TCP/80',
        '- default/other (only in cluster)',
        '',
      ].join('\n'),
    );
  });
});

describe('liveDiff', () => {
  it('compares only the namespaces the files cover unless asked for all', () => {
    const elsewhere = { ...clone(seed), metadata: { name: 'x', namespace: 'kube-system' } };
    expect(liveDiff([seed, elsewhere], [seed])).toMatchObject({ removed: [], namespaces: ['default'] });
    expect(liveDiff([seed, elsewhere], [seed], { allNamespaces: true }).removed.map((p) => p.name)).toEqual(['x']);
  });

  it('prints policies without server bookkeeping, keys sorted', () => {
    const fromServer = { ...clone(seed), metadata: { ...seed.metadata, uid: 'u', resourceVersion: '5', managedFields: [] } } as V1NetworkPolicy;
    expect(policyYaml(fromServer)).toBe(policyYaml(seed));
    expect(policyYaml(seed).split('\n')[0]).toBe('apiVersion: networking.k8s.io/v1');
  });
});
