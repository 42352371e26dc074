import { describe, expect, it } from 'vitest';
import { buildIndex } from '../../src/cluster/lookup.js';
import { InputError } from '../../src/errors.js';
import { normalizeIngressPeers, type V1NetworkPolicy, type V1Pod } from '../../src/cluster/objects.js';
import type { Protocol } from '../../src/flows/record.js';
import { compilePolicies, evaluate, judge } from '../../src/policy/evaluate.js';
import { effectivePolicyTypes } from '../../src/policy/target.js';
import { podEndpoint, resolveFlow, type Endpoint, type Traffic } from '../../src/policy/traffic.js';
import type { GateResult } from '../../src/policy/verdict.js';
import {
  makeCluster,
  makeEndpointSlice,
  makeFlow,
  makeNamespace,
  makePod,
  makePolicy,
  makeService,
} from './support/cluster-factory.js';

// The cluster every table case runs against. Namespaces: default (team=a), prod (team=b, env=prod), other.
const pods: V1Pod[] = [
  makePod({ name: 'client', labels: { app: 'client' }, ip: '10.0.0.1' }),
  makePod({
    name: 'web',
    labels: { app: 'web', tier: 'fe' },
    ip: '10.0.0.2',
    ports: [
      { name: 'http', containerPort: 8080 },
      { name: 'dns', containerPort: 53, protocol: 'UDP' },
      { name: 'sig', containerPort: 9999, protocol: 'SCTP' },
    ],
    sidecarPorts: [{ name: 'metrics', containerPort: 9090 }],
  }),
  makePod({ name: 'noip', labels: { app: 'noip' } }),
  makePod({ name: 'v6', labels: { app: 'v6' }, ip: '2001:db8::10', ports: [{ name: 'http', containerPort: 8080 }] }),
  makePod({ name: 'hostnet', labels: { app: 'hostnet' }, ip: '192.168.0.10', hostNetwork: true }),
  makePod({ name: 'api', namespace: 'prod', labels: { app: 'api' }, ip: '10.0.1.1', ports: [{ name: 'http', containerPort: 8443 }] }),
  makePod({ name: 'client', namespace: 'prod', labels: { app: 'client' }, ip: '10.0.1.2' }),
  makePod({ name: 'db', namespace: 'other', labels: { app: 'db', env: 'prod' }, ip: '10.0.2.1' }),
];
const cluster = makeCluster({
  namespaces: [makeNamespace('default', { team: 'a' }), makeNamespace('prod', { team: 'b', env: 'prod' }), makeNamespace('other')],
  pods,
});
const index = buildIndex(cluster);

/** `ns/name` is a pod of the cluster above; anything else an outside address. */
function endpoint(ref: string): Endpoint {
  if (ref.includes('/')) {
    const [ns, name] = ref.split('/') as [string, string];
    const pod = index.pod(ns, name);
    if (!pod) throw new Error(`no pod ${ref} in the test cluster`);
    return podEndpoint(pod, index);
  }
  return { kind: 'external', ip: ref };
}

function traffic(src: string, dst: string, port: number, proto: Protocol = 'TCP'): Traffic {
  return { src: endpoint(src), dst: endpoint(dst), port, proto };
}

/** A gate in one word: n/a (no gate), open (not isolated), allow <rules>, deny <isolating policies>. */
function gate(g: GateResult): string {
  if (!g.applies) return 'n/a';
  if (!g.isolated) return 'open';
  if (g.allowed) return `allow ${g.allowedBy.map((r) => `${r.policy} ${r.direction}[${r.rule}]`).join(', ')}`;
  return `deny ${g.isolatedBy.join(', ')}`;
}

interface Case {
  name: string;
  policies: V1NetworkPolicy[];
  /** [src, dst, port, proto?] */
  flow: [string, string, number, Protocol?];
  egress: string;
  ingress: string;
}

const denyAllIngress = makePolicy({ name: 'deny-ingress' });
const webSel = { matchLabels: { app: 'web' } };
const clientSel = { matchLabels: { app: 'client' } };

function ingressToWeb(from: Parameters<typeof makePolicy>[0]['ingress']): V1NetworkPolicy {
  return makePolicy({ name: 'web-in', podSelector: webSel, ingress: from });
}
function egressFromClient(egress: Parameters<typeof makePolicy>[0]['egress']): V1NetworkPolicy {
  return makePolicy({ name: 'client-out', podSelector: clientSel, egress });
}

const cases: Case[] = [
  // No policy, no gate.
  { name: 'no policies: pod to pod is open on both gates', policies: [], flow: ['default/client', 'default/web', 8080], egress: 'open', ingress: 'open' },
  { name: 'outside to outside has no gate at all', policies: [denyAllIngress], flow: ['1.2.3.4', '1.1.1.1', 80], egress: 'n/a', ingress: 'n/a' },
  { name: 'pod to outside has no ingress gate', policies: [denyAllIngress], flow: ['default/client', '1.1.1.1', 80], egress: 'open', ingress: 'n/a' },
  { name: 'outside to pod has no egress gate', policies: [denyAllIngress], flow: ['1.1.1.1', 'default/web', 8080], egress: 'n/a', ingress: 'deny default/deny-ingress' },

  // policyTypes and isolation per direction.
  { name: 'deny-all ingress isolates ingress', policies: [denyAllIngress], flow: ['default/client', 'default/web', 8080], egress: 'open', ingress: 'deny default/deny-ingress' },
  {
    name: 'egress-only policy isolates egress only (dst ingress open)',
    policies: [makePolicy({ name: 'deny-egress', policyTypes: ['Egress'] })],
    flow: ['default/client', 'default/web', 8080],
    egress: 'deny default/deny-egress',
    ingress: 'open',
  },
  {
    name: 'default policyTypes with egress rules: Egress is added',
    policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '1.1.1.1/32' } }] }])],
    flow: ['default/client', '1.0.0.1', 80],
    egress: 'deny default/client-out',
    ingress: 'n/a',
  },
  {
    name: 'default policyTypes with egress rules: Ingress is isolated as well',
    policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '1.1.1.1/32' } }] }])],
    flow: ['default/web', 'default/client', 8080],
    egress: 'open',
    ingress: 'deny default/client-out',
  },
  {
    name: 'default policyTypes with empty egress list: Ingress only',
    policies: [makePolicy({ name: 'p', egress: [] })],
    flow: ['default/client', '1.0.0.1', 80],
    egress: 'open',
    ingress: 'n/a',
  },
  {
    name: 'policyTypes [Ingress] ignores egress rules',
    policies: [makePolicy({ name: 'p', policyTypes: ['Ingress'], egress: [{ to: [{ ipBlock: { cidr: '9.9.9.9/32' } }] }] })],
    flow: ['default/client', '1.0.0.1', 80],
    egress: 'open',
    ingress: 'n/a',
  },
  {
    name: 'policyTypes [Egress] ignores ingress rules and does not isolate ingress',
    policies: [makePolicy({ name: 'p', policyTypes: ['Egress'], ingress: [{}] })],
    flow: ['default/web', 'default/client', 80],
    egress: 'deny default/p',
    ingress: 'open',
  },
  {
    name: 'policyTypes [Ingress, Egress] without rules denies both ways',
    policies: [makePolicy({ name: 'p', policyTypes: ['Ingress', 'Egress'] })],
    flow: ['default/client', 'default/web', 8080],
    egress: 'deny default/p',
    ingress: 'deny default/p',
  },
  { name: 'ingress: [{}] allows everything in', policies: [ingressToWeb([{}])], flow: ['1.1.1.1', 'default/web', 1], egress: 'n/a', ingress: 'allow default/web-in ingress[0]' },
  { name: 'egress: [{}] allows everything out', policies: [egressFromClient([{}])], flow: ['default/client', '2001:db8::99', 65535, 'UDP'], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },

  // Which pods a policy selects.
  { name: 'policy selects by podSelector only its matches', policies: [ingressToWeb([])], flow: ['default/web', 'default/client', 80], egress: 'open', ingress: 'open' },
  {
    name: 'a policy in another namespace does not select',
    policies: [makePolicy({ name: 'deny', namespace: 'prod', policyTypes: ['Ingress', 'Egress'] })],
    flow: ['default/client', 'default/web', 8080],
    egress: 'open',
    ingress: 'open',
  },
  {
    name: 'policy podSelector with matchExpressions (Exists)',
    policies: [makePolicy({ name: 'tiered', podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } })],
    flow: ['default/client', 'default/web', 8080],
    egress: 'open',
    ingress: 'deny default/tiered',
  },
  {
    name: 'policy podSelector with matchExpressions does not select others',
    policies: [makePolicy({ name: 'tiered', podSelector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] } })],
    flow: ['default/web', 'default/client', 8080],
    egress: 'open',
    ingress: 'open',
  },

  // Peers.
  { name: 'podSelector peer: same namespace matches', policies: [ingressToWeb([{ from: [{ podSelector: clientSel }] }])], flow: ['default/client', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
  { name: 'podSelector peer: other namespace does not', policies: [ingressToWeb([{ from: [{ podSelector: clientSel }] }])], flow: ['prod/client', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
  { name: 'podSelector peer: other labels do not', policies: [ingressToWeb([{ from: [{ podSelector: clientSel }] }])], flow: ['default/v6', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
  { name: 'podSelector {} peer: all pods of the namespace', policies: [ingressToWeb([{ from: [{ podSelector: {} }] }])], flow: ['default/v6', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
  { name: 'podSelector {} peer: not other namespaces', policies: [ingressToWeb([{ from: [{ podSelector: {} }] }])], flow: ['other/db', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
  { name: 'podSelector {} peer: not outside addresses', policies: [ingressToWeb([{ from: [{ podSelector: {} }] }])], flow: ['1.1.1.1', 'default/web', 8080], egress: 'n/a', ingress: 'deny default/web-in' },
  { name: 'namespaceSelector peer: any pod of a matching namespace', policies: [ingressToWeb([{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }] }])], flow: ['prod/api', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
  { name: 'namespaceSelector peer: namespace labels, not pod labels', policies: [ingressToWeb([{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }] }])], flow: ['other/db', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
  { name: 'namespaceSelector peer: kubernetes.io/metadata.name', policies: [ingressToWeb([{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'other' } } }] }])], flow: ['other/db', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
  { name: 'namespaceSelector {}: every namespace', policies: [ingressToWeb([{ from: [{ namespaceSelector: {} }] }])], flow: ['other/db', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
  { name: 'namespaceSelector {}: not outside addresses', policies: [ingressToWeb([{ from: [{ namespaceSelector: {} }] }])], flow: ['1.1.1.1', 'default/web', 8080], egress: 'n/a', ingress: 'deny default/web-in' },
  ...(() => {
    const and = ingressToWeb([{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } }, podSelector: clientSel }] }]);
    const or = ingressToWeb([{ from: [{ namespaceSelector: { matchLabels: { env: 'prod' } } }, { podSelector: clientSel }] }]);
    return [
      { name: 'ns+pod in one peer (AND): both match', policies: [and], flow: ['prod/client', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
      { name: 'ns+pod in one peer (AND): namespace only', policies: [and], flow: ['prod/api', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
      { name: 'ns+pod in one peer (AND): pod only', policies: [and], flow: ['default/client', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
      { name: 'ns and pod as two peers (OR): namespace only', policies: [or], flow: ['prod/api', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
      { name: 'ns and pod as two peers (OR): pod only', policies: [or], flow: ['default/client', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
      { name: 'ns and pod as two peers (OR): neither', policies: [or], flow: ['other/db', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
    ] satisfies Case[];
  })(),
  {
    name: 'peer matchExpressions In',
    policies: [ingressToWeb([{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['client', 'v6'] }] } }] }])],
    flow: ['default/v6', 'default/web', 8080],
    egress: 'open',
    ingress: 'allow default/web-in ingress[0]',
  },
  {
    name: 'peer matchExpressions NotIn',
    policies: [ingressToWeb([{ from: [{ podSelector: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['client'] }] } }] }])],
    flow: ['default/client', 'default/web', 8080],
    egress: 'open',
    ingress: 'deny default/web-in',
  },
  {
    name: 'peer namespace matchExpressions DoesNotExist',
    policies: [ingressToWeb([{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] } }] }])],
    flow: ['other/db', 'default/web', 8080],
    egress: 'open',
    ingress: 'allow default/web-in ingress[0]',
  },
  {
    name: 'peer namespace matchExpressions DoesNotExist excludes',
    policies: [ingressToWeb([{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] } }] }])],
    flow: ['prod/client', 'default/web', 8080],
    egress: 'open',
    ingress: 'deny default/web-in',
  },
  { name: 'egress podSelector peer matches the destination pod', policies: [egressFromClient([{ to: [{ podSelector: webSel }] }])], flow: ['default/client', 'default/web', 8080], egress: 'allow default/client-out egress[0]', ingress: 'open' },
  { name: 'egress podSelector peer does not match another pod', policies: [egressFromClient([{ to: [{ podSelector: webSel }] }])], flow: ['default/client', 'default/v6', 8080], egress: 'deny default/client-out', ingress: 'open' },
  { name: 'egress empty `to`: every destination', policies: [egressFromClient([{ ports: [{ port: 443 }] }])], flow: ['default/client', '8.8.8.8', 443], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },

  // ipBlock.
  ...(() => {
    const v4 = egressFromClient([{ to: [{ ipBlock: { cidr: '1.1.1.0/24', except: ['1.1.1.128/25'] } }] }]);
    const v6 = egressFromClient([{ to: [{ ipBlock: { cidr: '2001:db8:ffff::/48', except: ['2001:db8:ffff:1::/64'] } }] }]);
    const all4 = egressFromClient([{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }]);
    const all6 = egressFromClient([{ to: [{ ipBlock: { cidr: '::/0' } }] }]);
    return [
      { name: 'ipBlock v4: inside', policies: [v4], flow: ['default/client', '1.1.1.1', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
      { name: 'ipBlock v4: last address before except', policies: [v4], flow: ['default/client', '1.1.1.127', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
      { name: 'ipBlock v4: in except', policies: [v4], flow: ['default/client', '1.1.1.128', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock v4: outside', policies: [v4], flow: ['default/client', '1.0.0.1', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock v4: v6 address never matches', policies: [v4], flow: ['default/client', '::101:101', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock v4: IPv4-mapped hex spelling matches', policies: [v4], flow: ['default/client', '::ffff:101:101', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
      { name: 'ipBlock v4: IPv4-mapped spelling matches', policies: [v4], flow: ['default/client', '::ffff:1.1.1.1', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
      { name: 'ipBlock v6: inside', policies: [v6], flow: ['default/client', '2001:db8:ffff::1', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
      { name: 'ipBlock v6: non-canonical spelling inside', policies: [v6], flow: ['default/client', '2001:DB8:FFFF:0:0::1', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
      { name: 'ipBlock v6: in except', policies: [v6], flow: ['default/client', '2001:db8:ffff:1::5', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock v6: outside', policies: [v6], flow: ['default/client', '2001:db8:fffe::1', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock v6: v4 address never matches', policies: [v6], flow: ['default/client', '1.1.1.1', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock 0.0.0.0/0: any v4', policies: [all4], flow: ['default/client', '255.255.255.255', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
      { name: 'ipBlock 0.0.0.0/0: not v6', policies: [all4], flow: ['default/client', '2001:db8::1', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock ::/0: any v6', policies: [all6], flow: ['default/client', '2001:db8::1', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
      { name: 'ipBlock ::/0: not v4', policies: [all6], flow: ['default/client', '1.1.1.1', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock matches a pod by its IP (egress)', policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }] }])], flow: ['default/client', 'default/web', 8080], egress: 'allow default/client-out egress[0]', ingress: 'open' },
      { name: 'ipBlock matches a v6 pod by its IP', policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '2001:db8::/64' } }] }])], flow: ['default/client', 'default/v6', 8080], egress: 'allow default/client-out egress[0]', ingress: 'open' },
      { name: 'ipBlock matches a pod by IP, not by labels (ingress, in)', policies: [ingressToWeb([{ from: [{ ipBlock: { cidr: '10.0.1.0/24' } }] }])], flow: ['prod/client', 'default/web', 8080], egress: 'open', ingress: 'allow default/web-in ingress[0]' },
      { name: 'ipBlock matches a pod by IP, not by labels (ingress, out)', policies: [ingressToWeb([{ from: [{ ipBlock: { cidr: '10.0.1.0/24' } }] }])], flow: ['default/client', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
      { name: 'ipBlock cannot match a pod without an address', policies: [ingressToWeb([{ from: [{ ipBlock: { cidr: '0.0.0.0/0' } }, { ipBlock: { cidr: '::/0' } }] }])], flow: ['default/noip', 'default/web', 8080], egress: 'open', ingress: 'deny default/web-in' },
      { name: 'ipBlock octets with leading zeros are decimal (like the API server)', policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '010.000.000.000/24' } }] }])], flow: ['default/client', 'default/web', 8080], egress: 'allow default/client-out egress[0]', ingress: 'open' },
      { name: 'ipBlock octets with leading zeros are not octal', policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '010.0.0.0/24' } }] }])], flow: ['default/client', '8.0.0.1', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'IPv4-mapped IPv6 block matches no IPv4 address', policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '::ffff:1.1.1.0/120' } }] }])], flow: ['default/client', '1.1.1.1', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'IPv4-mapped IPv6 block matches no IPv4-mapped spelling either', policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '::ffff:1.1.1.0/120' } }] }])], flow: ['default/client', '::ffff:1.1.1.1', 80], egress: 'deny default/client-out', ingress: 'n/a' },
      { name: 'ipBlock with host bits set is the network', policies: [egressFromClient([{ to: [{ ipBlock: { cidr: '1.1.1.77/24' } }] }])], flow: ['default/client', '1.1.1.200', 80], egress: 'allow default/client-out egress[0]', ingress: 'n/a' },
    ] satisfies Case[];
  })(),

  // Host-network pods are node traffic.
  { name: 'host-network pod is not isolated by a selecting policy', policies: [makePolicy({ name: 'all', policyTypes: ['Ingress', 'Egress'] })], flow: ['default/hostnet', '1.1.1.1', 80], egress: 'n/a', ingress: 'n/a' },
  { name: 'host-network pod is not matched by a podSelector peer', policies: [ingressToWeb([{ from: [{ podSelector: {} }] }])], flow: ['default/hostnet', 'default/web', 8080], egress: 'n/a', ingress: 'deny default/web-in' },
  { name: 'host-network pod is matched by ipBlock of its address', policies: [ingressToWeb([{ from: [{ ipBlock: { cidr: '192.168.0.10/32' } }] }])], flow: ['default/hostnet', 'default/web', 8080], egress: 'n/a', ingress: 'allow default/web-in ingress[0]' },

  // Ports.
  ...(() => {
    const p = (ports: NonNullable<Parameters<typeof makePolicy>[0]['ingress']>[number]['ports']) => ingressToWeb([{ ports }]);
    const allow = 'allow default/web-in ingress[0]';
    const deny = 'deny default/web-in';
    const c = (name: string, pol: V1NetworkPolicy, port: number, proto: Protocol, ingress: string): Case => ({
      name,
      policies: [pol],
      flow: ['default/client', 'default/web', port, proto],
      egress: 'open',
      ingress,
    });
    return [
      c('numeric port matches', p([{ port: 8080 }]), 8080, 'TCP', allow),
      c('numeric port: other port', p([{ port: 8080 }]), 8081, 'TCP', deny),
      c('protocol defaults to TCP: UDP does not match', p([{ port: 53 }]), 53, 'UDP', deny),
      c('protocol UDP matches UDP', p([{ port: 53, protocol: 'UDP' }]), 53, 'UDP', allow),
      c('protocol UDP does not match TCP', p([{ port: 53, protocol: 'UDP' }]), 53, 'TCP', deny),
      c('protocol SCTP matches SCTP', p([{ port: 9999, protocol: 'SCTP' }]), 9999, 'SCTP', allow),
      c('protocol SCTP does not match TCP', p([{ port: 9999, protocol: 'SCTP' }]), 9999, 'TCP', deny),
      c('protocol without port: any UDP port', p([{ protocol: 'UDP' }]), 12345, 'UDP', allow),
      c('protocol without port: not TCP', p([{ protocol: 'UDP' }]), 12345, 'TCP', deny),
      c('empty port entry: any TCP port', p([{}]), 1, 'TCP', allow),
      c('empty ports list: any port, any protocol', p([]), 7, 'SCTP', allow),
      c('endPort: first port of the range', p([{ port: 8000, endPort: 8100 }]), 8000, 'TCP', allow),
      c('endPort: last port of the range', p([{ port: 8000, endPort: 8100 }]), 8100, 'TCP', allow),
      c('endPort: below the range', p([{ port: 8000, endPort: 8100 }]), 7999, 'TCP', deny),
      c('endPort: above the range', p([{ port: 8000, endPort: 8100 }]), 8101, 'TCP', deny),
      c('endPort with UDP: TCP is not in it', p([{ port: 8000, endPort: 8100, protocol: 'UDP' }]), 8050, 'TCP', deny),
      c('second port entry matches (OR)', p([{ port: 1 }, { port: 8080 }]), 8080, 'TCP', allow),
      c('named port resolved on the destination pod', p([{ port: 'http' }]), 8080, 'TCP', allow),
      c('named port: another number is not it', p([{ port: 'http' }]), 80, 'TCP', deny),
      c('named UDP port with protocol UDP', p([{ port: 'dns', protocol: 'UDP' }]), 53, 'UDP', allow),
      c('named UDP port with default protocol TCP does not resolve', p([{ port: 'dns' }]), 53, 'TCP', deny),
      c('named port of another container of the pod', p([{ port: 'metrics' }]), 9090, 'TCP', allow),
      c('named port the pod does not have', p([{ port: 'grpc' }]), 8080, 'TCP', deny),
    ];
  })(),
  { name: 'egress named port resolved on the destination pod (web)', policies: [egressFromClient([{ ports: [{ port: 'http' }] }])], flow: ['default/client', 'default/web', 8080], egress: 'allow default/client-out egress[0]', ingress: 'open' },
  { name: 'egress named port resolved on the destination pod (api: 8443)', policies: [egressFromClient([{ ports: [{ port: 'http' }] }])], flow: ['default/client', 'prod/api', 8443], egress: 'allow default/client-out egress[0]', ingress: 'open' },
  { name: 'egress named port: source pod ports do not count', policies: [egressFromClient([{ ports: [{ port: 'http' }] }])], flow: ['default/client', 'prod/api', 8080], egress: 'deny default/client-out', ingress: 'open' },
  { name: 'egress named port never matches an outside address', policies: [egressFromClient([{ ports: [{ port: 'http' }] }])], flow: ['default/client', '1.1.1.1', 8080], egress: 'deny default/client-out', ingress: 'n/a' },
  { name: 'rule needs peer AND port: right peer, wrong port', policies: [egressFromClient([{ to: [{ podSelector: webSel }], ports: [{ port: 8080 }] }])], flow: ['default/client', 'default/web', 9090], egress: 'deny default/client-out', ingress: 'open' },
  { name: 'rule needs peer AND port: right port, wrong peer', policies: [egressFromClient([{ to: [{ podSelector: webSel }], ports: [{ port: 8080 }] }])], flow: ['default/client', 'default/v6', 8080], egress: 'deny default/client-out', ingress: 'open' },

  // Both gates and attribution.
  {
    name: 'egress allowed but ingress denied',
    policies: [egressFromClient([{ to: [{ podSelector: webSel }] }]), ingressToWeb([{ from: [{ podSelector: { matchLabels: { app: 'nobody' } } }] }])],
    flow: ['default/client', 'default/web', 8080],
    egress: 'allow default/client-out egress[0]',
    ingress: 'deny default/web-in',
  },
  {
    name: 'every allowing rule is reported, in policy order with rule indexes',
    policies: [
      makePolicy({ name: 'b-second', podSelector: clientSel, egress: [{ to: [{ ipBlock: { cidr: '9.9.9.9/32' } }] }, { ports: [{ port: 80 }] }] }),
      makePolicy({ name: 'a-first', podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '1.1.1.0/24' } }] }, { ports: [{ port: 81 }] }, {}] }),
    ],
    flow: ['default/client', '1.1.1.1', 80],
    egress: 'allow default/b-second egress[1], default/a-first egress[0], default/a-first egress[2]',
    ingress: 'n/a',
  },
  {
    name: 'isolatedBy lists every isolating policy, sorted',
    policies: [
      makePolicy({ name: 'zeta', podSelector: clientSel, policyTypes: ['Egress'] }),
      makePolicy({ name: 'alpha', policyTypes: ['Egress'] }),
      makePolicy({ name: 'ingress-only', podSelector: clientSel }),
    ],
    flow: ['default/client', '1.1.1.1', 80],
    egress: 'deny default/alpha, default/zeta',
    ingress: 'n/a',
  },
];

describe('evaluate', () => {
  for (const c of cases) {
    it(c.name, () => {
      const set = compilePolicies(c.policies);
      const [src, dst, port, proto] = c.flow;
      const v = evaluate(set, traffic(src, dst, port, proto));
      expect({ egress: gate(v.egress), ingress: gate(v.ingress) }).toEqual({ egress: c.egress, ingress: c.ingress });
      const wantAllowed = !c.egress.startsWith('deny') && !c.ingress.startsWith('deny');
      expect(v.verdict).toBe(wantAllowed ? 'allowed' : 'denied');
      for (const g of [v.egress, v.ingress]) expect(g.allowed).toBe(!g.applies || !g.isolated || g.allowedBy.length > 0);
    });
  }

  it('the same set judges the same pod the same way twice (per-pod cache)', () => {
    const set = compilePolicies([ingressToWeb([{ from: [{ podSelector: clientSel }] }])]);
    const first = evaluate(set, traffic('default/client', 'default/web', 8080));
    const second = evaluate(set, traffic('default/v6', 'default/web', 8080));
    const third = evaluate(set, traffic('default/client', 'default/web', 8080));
    expect([first.verdict, second.verdict, third.verdict]).toEqual(['allowed', 'denied', 'allowed']);
  });

  it('policy sets are independent (caches are per set)', () => {
    const open = compilePolicies([]);
    const closed = compilePolicies([denyAllIngress]);
    const t = traffic('default/client', 'default/web', 8080);
    expect(evaluate(open, t).verdict).toBe('allowed');
    expect(evaluate(closed, t).verdict).toBe('denied');
    expect(evaluate(open, t).verdict).toBe('allowed');
  });

  it('shared evidence is frozen, so a caller cannot corrupt later verdicts', () => {
    const set = compilePolicies([denyAllIngress]);
    const v = evaluate(set, traffic('default/client', 'default/web', 8080));
    expect(() => v.ingress.isolatedBy.push('x')).toThrow();
  });

  it('exposes compiled targets with their defaulted policyTypes', () => {
    const set = compilePolicies([egressFromClient([{}]), denyAllIngress]);
    expect(set.targets.map((t) => [t.key, t.isolatesIngress, t.isolatesEgress])).toEqual([
      ['default/client-out', true, true],
      ['default/deny-ingress', true, false],
    ]);
    expect(set.targetsInNamespace('default')).toHaveLength(2);
    expect(set.targetsInNamespace('prod')).toHaveLength(0);
    expect(effectivePolicyTypes(makePolicy({ name: 'x', policyTypes: ['Egress'] }))).toEqual({ ingress: false, egress: true });
  });

  it('a policy that cannot be compiled is an InputError naming it', () => {
    const badCidr = makePolicy({ name: 'bad', namespace: 'prod', egress: [{ to: [{ ipBlock: { cidr: '1.2.3.4' } }] }] });
    expect(() => compilePolicies([badCidr])).toThrow(InputError);
    expect(() => compilePolicies([badCidr])).toThrow('NetworkPolicy prod/bad: cannot be evaluated: invalid CIDR "1.2.3.4"');
    const badOp = makePolicy({ name: 'op', podSelector: { matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] } });
    expect(() => compilePolicies([badOp])).toThrow(/^NetworkPolicy default\/op: cannot be evaluated: unknown label selector operator "Gt"/);
  });

  it('reads client-node style `_from` as well as YAML `from`', () => {
    const pol = makePolicy({ name: 'web-in', podSelector: webSel, ingress: [{}] });
    (pol.spec!.ingress as unknown[]) = [{ _from: [{ podSelector: clientSel }] }];
    // Through the normalizer every policy passes where it enters netpol (files, snapshots, live view, apply).
    const set = compilePolicies([normalizeIngressPeers(pol)]);
    expect(evaluate(set, traffic('default/client', 'default/web', 8080)).verdict).toBe('allowed');
    expect(evaluate(set, traffic('default/v6', 'default/web', 8080)).verdict).toBe('denied');
  });
});

describe('judge (resolved flows, Service DNAT)', () => {
  const web1 = makePod({ name: 'web-1', labels: { app: 'web' }, ip: '10.0.0.11', ports: [{ name: 'http', containerPort: 8080 }] });
  const web2 = makePod({ name: 'web-2', labels: { app: 'web', canary: 'yes' }, ip: '10.0.0.12', ports: [{ name: 'http', containerPort: 8080 }] });
  const mypod = makePod({ name: 'mypod', labels: { run: 'mypod' }, ip: '10.0.0.1' });
  const svc = makeService({ name: 'web', selector: { app: 'web' }, clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080 }] });
  const named = makeService({ name: 'web-named', selector: { app: 'web' }, clusterIP: '10.96.0.11', ports: [{ name: 'web', port: 80, targetPort: 'http' }] });
  const empty = makeService({ name: 'nobody', selector: { app: 'nobody' }, clusterIP: '10.96.0.12', ports: [{ port: 80 }] });
  const slice = makeEndpointSlice({
    service: 'web',
    ports: [{ port: 8080 }],
    endpoints: [
      { ip: '10.0.0.11', pod: 'web-1' },
      { ip: '10.0.0.12', pod: 'web-2' },
    ],
  });
  const svcIndex = buildIndex(makeCluster({ pods: [web1, web2, mypod], services: [svc, named, empty], endpointSlices: [slice] }));

  const webOn = (port: number | string) => makePolicy({ name: 'web', podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port }] }] });
  const mypodEgress = makePolicy({
    name: 'mypod',
    podSelector: { matchLabels: { run: 'mypod' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ ipBlock: { cidr: '1.1.1.1/32' } }], ports: [{ port: 80 }, { port: 443 }] }],
  });

  it('a Service is judged on the backends targetPort, not the Service port (allowed)', () => {
    const j = judge(compilePolicies([webOn(8080)]), resolveFlow(makeFlow('10.0.0.1', '10.96.0.10', 80), svcIndex));
    expect(j.verdict).toBe('allowed');
    expect(j.targets.map((t) => [t.traffic.dst.kind === 'pod' ? t.traffic.dst.name : '', t.traffic.port, t.verdict.verdict])).toEqual([
      ['web-1', 8080, 'allowed'],
      ['web-2', 8080, 'allowed'],
    ]);
    expect(j.reason).toBe('via service default/web:80 to backend default/web-1:8080: egress from default/mypod not isolated; ingress to default/web-1 allowed by default/web ingress[0] (all 2 backends allowed)');
  });

  it('a Service is judged on the backends targetPort, not the Service port (denied)', () => {
    const j = judge(compilePolicies([webOn(80)]), resolveFlow(makeFlow('10.0.0.1', '10.96.0.10', 80), svcIndex));
    expect(j.verdict).toBe('denied');
    expect(j.reason).toBe('via service default/web:80 to backend default/web-1:8080: ingress to default/web-1 isolated by default/web: no rule allows default/mypod on port 8080/TCP (2 of 2 backends denied)');
  });

  it('a named targetPort is resolved on the backend pods', () => {
    const j = judge(compilePolicies([webOn('http')]), resolveFlow(makeFlow('10.0.0.1', '10.96.0.11', 80), svcIndex));
    expect(j.targets.map((t) => t.traffic.port)).toEqual([8080, 8080]);
    expect(j.verdict).toBe('allowed');
  });

  it('a Service flow is denied when any one backend denies it', () => {
    const onlyCanaryClosed = makePolicy({ name: 'canary', podSelector: { matchLabels: { canary: 'yes' } } });
    const j = judge(compilePolicies([onlyCanaryClosed]), resolveFlow(makeFlow('10.0.0.1', '10.96.0.10', 80), svcIndex));
    expect(j.verdict).toBe('denied');
    expect(j.targets.map((t) => t.verdict.verdict)).toEqual(['allowed', 'denied']);
    expect(j.reason).toBe('via service default/web:80 to backend default/web-2:8080: ingress to default/web-2 isolated by default/canary: no rule allows default/mypod on port 8080/TCP (1 of 2 backends denied)');
  });

  it('a Service without backends is denied with the resolver reason', () => {
    const resolved = resolveFlow(makeFlow('10.0.0.1', '10.96.0.12', 80), svcIndex);
    expect(resolved.problem).toBeDefined();
    const j = judge(compilePolicies([]), resolved);
    expect(j).toEqual({ verdict: 'denied', targets: [], reason: resolved.problem });
  });

  it('the seed scenario: 1.1.1.1:80 and :443 allowed, 1.0.0.1:80 denied with a readable reason', () => {
    const set = compilePolicies([mypodEgress]);
    const ok80 = judge(set, resolveFlow(makeFlow('10.0.0.1', '1.1.1.1', 80), svcIndex));
    const ok443 = judge(set, resolveFlow(makeFlow('10.0.0.1', '1.1.1.1', 443), svcIndex));
    const bad = judge(set, resolveFlow(makeFlow('10.0.0.1', '1.0.0.1', 80), svcIndex));
    expect([ok80.verdict, ok443.verdict, bad.verdict]).toEqual(['allowed', 'allowed', 'denied']);
    expect(ok80.reason).toBe('egress from default/mypod allowed by default/mypod egress[0]');
    expect(bad.reason).toBe('egress from default/mypod isolated by default/mypod: no rule allows 1.0.0.1:80/TCP');
    expect(bad.targets[0]!.verdict.egress.isolatedBy).toEqual(['default/mypod']);
  });

  it('reasons for outside-only traffic and IPv6 destinations', () => {
    const set = compilePolicies([mypodEgress]);
    expect(judge(set, resolveFlow(makeFlow('8.8.8.8', '1.0.0.1', 80), svcIndex)).reason).toBe('neither end is a pod: NetworkPolicy does not apply');
    expect(judge(set, resolveFlow(makeFlow('10.0.0.1', '2001:db8::1', 443), svcIndex)).reason).toBe(
      'egress from default/mypod isolated by default/mypod: no rule allows [2001:db8::1]:443/TCP',
    );
  });

  it('host-network pods are named as such', () => {
    const node = makePod({ name: 'agent', labels: { app: 'agent' }, ip: '192.168.0.10', hostNetwork: true });
    const idx = buildIndex(makeCluster({ pods: [node, mypod] }));
    const set = compilePolicies([makePolicy({ name: 'lock', policyTypes: ['Ingress', 'Egress'] })]);
    const agent = podEndpoint(node, idx);
    const j = judge(set, { flow: makeFlow('192.168.0.10', '1.1.1.1', 80), src: agent, targets: [{ src: agent, dst: { kind: 'external', ip: '1.1.1.1' }, port: 80, proto: 'TCP' }] });
    expect(j).toMatchObject({ verdict: 'allowed', reason: 'default/agent uses the host network: no egress gate' });
    const toMypod = judge(set, resolveFlow(makeFlow('10.0.0.1', '1.1.1.1', 80), idx));
    expect(toMypod.verdict).toBe('denied');
  });

  it("traffic from a pod's own node has no ingress gate (NetworkPolicy cannot block it)", () => {
    const onN1 = makePod({ name: 'web-n1', labels: { app: 'web' }, ip: '10.0.0.21', nodeName: 'n1' });
    const hostN1 = makePod({ name: 'agent-n1', labels: { app: 'agent' }, ip: '192.168.0.1', hostNetwork: true, nodeName: 'n1' });
    const hostN2 = makePod({ name: 'agent-n2', labels: { app: 'agent' }, ip: '192.168.0.2', hostNetwork: true, nodeName: 'n2' });
    const objects = makeCluster({ pods: [onN1, hostN1, hostN2] });
    objects.nodes = ['n1', 'n2'].map((n, i) => ({ metadata: { name: n }, status: { addresses: [{ type: 'InternalIP', address: `192.168.0.${i + 1}` }] } }));
    const idx = buildIndex(objects);
    const set = compilePolicies([denyAllIngress]);
    const web = podEndpoint(onN1, idx);
    const cases: [string, Endpoint, string][] = [
      ['node n1 address', { kind: 'external', ip: '192.168.0.1', node: 'n1' }, 'n/a'],
      ['node n2 address', { kind: 'external', ip: '192.168.0.2', node: 'n2' }, 'deny default/deny-ingress'],
      ['host-network pod on n1', podEndpoint(hostN1, idx), 'n/a'],
      ['host-network pod on n2', podEndpoint(hostN2, idx), 'deny default/deny-ingress'],
      ['an outside address', { kind: 'external', ip: '1.1.1.1' }, 'deny default/deny-ingress'],
    ];
    for (const [what, src, want] of cases) {
      expect([what, gate(evaluate(set, { src, dst: web, port: 8080, proto: 'TCP' }).ingress)]).toEqual([what, want]);
    }
    const j = judge(set, resolveFlow(makeFlow('192.168.0.1', '10.0.0.21', 8080), idx));
    expect(j).toMatchObject({ verdict: 'allowed', reason: 'ingress to default/web-n1 from its own node n1: NetworkPolicy cannot block it' });
  });

  it('both failing gates are named when both deny', () => {
    const set = compilePolicies([makePolicy({ name: 'lock', policyTypes: ['Ingress', 'Egress'] })]);
    const j = judge(set, resolveFlow(makeFlow('10.0.0.1', '10.0.0.11', 8080, 'UDP'), svcIndex));
    expect(j.reason).toBe(
      'egress from default/mypod isolated by default/lock: no rule allows default/web-1:8080/UDP; ingress to default/web-1 isolated by default/lock: no rule allows default/mypod on port 8080/UDP',
    );
  });
});
