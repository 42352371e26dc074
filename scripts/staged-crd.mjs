#!/usr/bin/env node
/**
 * Writes deploy/crds/stagednetworkpolicies.yaml: the StagedNetworkPolicy CRD whose spec schema is
 * the API server's own NetworkPolicySpec (from its OpenAPI v3 document), made structural — $refs
 * inlined, IntOrString as x-kubernetes-int-or-string, defaults and patch hints dropped (a staged
 * policy is stored as written; the real defaults apply when it is promoted to a NetworkPolicy).
 * Reusing the upstream schema means `kubectl apply` of a staged policy rejects exactly the typos
 * and wrong types the real NetworkPolicy would, and `kubectl explain` shows upstream's docs.
 *
 *   node scripts/staged-crd.mjs KUBECONFIG > deploy/crds/stagednetworkpolicies.yaml
 *
 * The status part (evidence written by the agents) is hand-written below.
 */
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

const kubeconfig = process.argv[2];
if (!kubeconfig) {
  process.stderr.write('usage: node scripts/staged-crd.mjs KUBECONFIG\n');
  process.exit(2);
}
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const opts = {};
await kc.applyToHTTPSOptions(opts);
const url = `${kc.getCurrentCluster().server}/openapi/v3/apis/networking.k8s.io/v1`;
const doc = await new Promise((resolve, reject) => {
  https
    .get(url, opts, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text)) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
    })
    .on('error', reject);
});
const schemas = doc.components.schemas;
const KEEP = new Set(['description', 'type', 'format', 'properties', 'items', 'additionalProperties', 'required', 'enum', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type']);

function structural(node, seen = []) {
  if (node.$ref || (node.allOf && node.allOf.length === 1 && node.allOf[0].$ref)) {
    const name = (node.$ref ?? node.allOf[0].$ref).replace('#/components/schemas/', '');
    if (seen.includes(name)) throw new Error(`recursive schema ${name}`);
    const target = structural(schemas[name], [...seen, name]);
    return node.description ? { ...target, description: node.description } : target;
  }
  if (node.format === 'int-or-string') {
    return { ...(node.description ? { description: node.description } : {}), 'x-kubernetes-int-or-string': true };
  }
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (!KEEP.has(k)) continue;
    if (k === 'format' && v === 'int-or-string') continue;
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, structural(s, seen)]));
    else if (k === 'items' || k === 'additionalProperties') out[k] = structural(v, seen);
    else out[k] = v;
  }
  return out;
}

const spec = structural(schemas['io.k8s.api.networking.v1.NetworkPolicySpec']);
spec.description =
  'The NetworkPolicy spec this staged policy would enforce once promoted (networking.k8s.io/v1 NetworkPolicySpec, schema taken from the API server). ' +
  'Agents judge every connect against it without enforcing it.';

const time = (description) => ({ type: 'string', format: 'date-time', description });
const count = (description) => ({ type: 'integer', format: 'int64', minimum: 0, description });
const example = {
  type: 'object',
  required: ['source', 'peer', 'port', 'gate'],
  properties: {
    source: { type: 'string', maxLength: 512, description: 'The connecting workload: namespace/Kind/name (or namespace/Pod/name).' },
    peer: { type: 'string', maxLength: 512, description: 'Where it connected, in netpol notation: p/ns/pod:port, s/ns/svc:port, r/ip:port.' },
    port: { type: 'integer', format: 'int32', minimum: 0, maximum: 65535 },
    protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
    gate: { type: 'string', enum: ['egress', 'ingress'], description: 'The gate this policy would close for the flow.' },
    count: count('Would-be-denied connects of this flow seen by this node.'),
    firstSeen: time('First would-be-denied connect of this flow on this node.'),
    lastSeen: time('Latest would-be-denied connect of this flow on this node.'),
  },
};
const nodeEvidence = {
  type: 'object',
  required: ['node'],
  properties: {
    node: { type: 'string', maxLength: 253, description: 'The node whose agent wrote this entry (its field manager is netpol-agent/<node>).' },
    observedGeneration: { type: 'integer', format: 'int64', description: 'The metadata.generation of the spec this evidence was judged against; other generations are stale.' },
    judgingSince: time('When this node started judging this generation of the spec.'),
    wouldDeny: count('Connects this node saw that this policy would deny (exact, not bounded).'),
    firstSeen: time('First would-be-denied connect on this node.'),
    lastSeen: time('Latest would-be-denied connect on this node.'),
    examples: {
      type: 'array',
      maxItems: 20,
      description: 'Distinct would-be-denied flows, the most recently seen kept when there are more (wouldDeny still counts all).',
      'x-kubernetes-list-type': 'atomic',
      items: example,
    },
    examplesOmitted: count('Distinct flows not kept in examples (evicted as older than those kept).'),
  },
};
const status = {
  type: 'object',
  description: "Evidence from the node agents' live judge: what this policy would have denied, per node.",
  properties: {
    wouldDeny: count('Sum of nodes[].wouldDeny for the current generation (any agent keeps it up to date).'),
    lastSeen: time('Latest nodes[].lastSeen for the current generation.'),
    nodes: {
      type: 'array',
      maxItems: 5000,
      description: 'One entry per node, each owned by that node\'s agent (server-side apply, field manager netpol-agent/<node>), so agents never overwrite each other.',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['node'],
      items: nodeEvidence,
    },
  },
};

const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'stagednetworkpolicies.netpol.io', labels: { 'app.kubernetes.io/name': 'netpol' } },
  spec: {
    group: 'netpol.io',
    scope: 'Namespaced',
    names: { plural: 'stagednetworkpolicies', singular: 'stagednetworkpolicy', kind: 'StagedNetworkPolicy', listKind: 'StagedNetworkPolicyList', shortNames: ['snp'], categories: ['netpol'] },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Pod-Selector', type: 'string', jsonPath: '.spec.podSelector', priority: 1 },
          { name: 'Would-Deny', type: 'integer', jsonPath: '.status.wouldDeny', description: 'Connects the agents saw that this policy would deny.' },
          { name: 'Last-Seen', type: 'date', jsonPath: '.status.lastSeen', description: 'Latest would-be-denied connect.' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'A NetworkPolicy held back from enforcement: netpol agents judge every connect against it and record what it would deny (kubectl netpol stage / promote).',
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec,
              status,
            },
          },
        },
      },
    ],
  },
};

process.stdout.write(
  '# Generated by scripts/staged-crd.mjs from the API server\'s NetworkPolicySpec (Kubernetes v1.34); do not edit by hand.\n' +
    stringify(crd, { lineWidth: 0 }),
);
