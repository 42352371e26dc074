/**
 * NetworkPolicy validation cases shared by the unit test (test/unit/policy-validate.test.ts: netpol
 * rejects each bad case naming the field) and the e2e parity test (test/e2e/policy-validate-apiserver
 * .test.ts: the real API server agrees on every good and bad case).
 */

export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A valid policy using every construct once; each case breaks one thing. */
export function base(): Obj {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'web.policy-1', namespace: 'default', labels: { 'app.kubernetes.io/name': 'web' }, annotations: { 'example.com/note': 'anything at all !' } },
    spec: {
      podSelector: { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }] },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
            { podSelector: { matchLabels: { app: 'client' } } },
            { namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] }, podSelector: {} },
            { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '10.2.3.4/32'] } },
          ],
          ports: [{ port: 8080 }, { port: 'http', protocol: 'TCP' }, { protocol: 'UDP' }],
        },
      ],
      egress: [
        { to: [{ ipBlock: { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] } }], ports: [{ port: 8000, endPort: 9000, protocol: 'SCTP' }] },
        {},
      ],
    },
  };
}

export interface Bad {
  name: string;
  mutate: (o: Obj) => void;
  field: string;
  detail: RegExp;
  /** Set when kubectl, not the API server, is the one refusing (the e2e parity test skips the server). */
  kubectlOnly?: string;
}

/** Objects the API server rejects, with the field netpol must name. */
export const bad: Bad[] = [
  { name: 'wrong apiVersion', mutate: (o) => (o.apiVersion = 'extensions/v1beta1'), field: 'apiVersion', detail: /must be apiVersion networking\.k8s\.io\/v1, got "extensions\/v1beta1"/ },
  {
    name: 'missing apiVersion',
    mutate: (o) => delete o.apiVersion,
    field: 'apiVersion',
    detail: /got null/,
    kubectlOnly: 'kubectl refuses an object without apiVersion; the server would take it from the URL',
  },
  { name: 'status (removed from NetworkPolicy in 1.28)', mutate: (o) => (o.status = {}), field: 'status', detail: /unknown field "status"/ },
  { name: 'wrong kind', mutate: (o) => (o.kind = 'NetworkPolicyX'), field: 'kind', detail: /expected kind NetworkPolicy/ },
  { name: 'unknown top-level field', mutate: (o) => (o.specs = {}), field: 'specs', detail: /unknown field "specs"/ },
  { name: 'missing metadata', mutate: (o) => delete o.metadata, field: 'metadata.name', detail: /required/ },
  { name: 'missing name', mutate: (o) => delete o.metadata.name, field: 'metadata.name', detail: /required/ },
  { name: 'empty name', mutate: (o) => (o.metadata.name = ''), field: 'metadata.name', detail: /required/ },
  { name: 'name not a DNS subdomain (uppercase)', mutate: (o) => (o.metadata.name = 'Web'), field: 'metadata.name', detail: /RFC 1123 subdomain/ },
  { name: 'name not a DNS subdomain (underscore)', mutate: (o) => (o.metadata.name = 'web_policy'), field: 'metadata.name', detail: /RFC 1123 subdomain/ },
  { name: 'name too long', mutate: (o) => (o.metadata.name = 'a'.repeat(254)), field: 'metadata.name', detail: /no more than 253/ },
  { name: 'name not a string', mutate: (o) => (o.metadata.name = 12), field: 'metadata.name', detail: /must be a string/ },
  { name: 'namespace not a DNS label (dot)', mutate: (o) => (o.metadata.namespace = 'a.b'), field: 'metadata.namespace', detail: /RFC 1123 label/ },
  { name: 'namespace too long', mutate: (o) => (o.metadata.namespace = 'a'.repeat(64)), field: 'metadata.namespace', detail: /no more than 63/ },
  { name: 'unknown metadata field', mutate: (o) => (o.metadata.nmae = 'x'), field: 'metadata.nmae', detail: /unknown field/ },
  { name: 'metadata label value invalid', mutate: (o) => (o.metadata.labels.x = 'not ok'), field: 'metadata.labels.x', detail: /invalid value "not ok"/ },
  { name: 'metadata label value a number', mutate: (o) => (o.metadata.labels.version = 1), field: 'metadata.labels.version', detail: /must be a string.*quote it/ },
  { name: 'metadata annotation key invalid', mutate: (o) => (o.metadata.annotations['a b'] = 'x'), field: 'metadata.annotations.a b', detail: /invalid key/ },
  { name: 'spec not a mapping', mutate: (o) => (o.spec = []), field: 'spec', detail: /must be a mapping, got a list/ },
  { name: 'unknown spec field', mutate: (o) => (o.spec.podselector = {}), field: 'spec.podselector', detail: /unknown field "podselector"/ },
  { name: 'podSelector matchLabels key invalid', mutate: (o) => (o.spec.podSelector.matchLabels = { '-app': 'x' }), field: 'spec.podSelector.matchLabels.-app', detail: /invalid key "-app"/ },
  { name: 'podSelector matchLabels key with bad prefix', mutate: (o) => (o.spec.podSelector.matchLabels = { 'Example.com/app': 'x' }), field: 'spec.podSelector.matchLabels.Example.com/app', detail: /prefix part/ },
  { name: 'podSelector matchLabels name part too long', mutate: (o) => (o.spec.podSelector.matchLabels = { ['a'.repeat(64)]: 'x' }), field: `spec.podSelector.matchLabels.${'a'.repeat(64)}`, detail: /name part must be no more than 63/ },
  { name: 'podSelector matchLabels value invalid', mutate: (o) => (o.spec.podSelector.matchLabels = { app: 'web!' }), field: 'spec.podSelector.matchLabels.app', detail: /invalid value "web!"/ },
  { name: 'podSelector unknown field', mutate: (o) => (o.spec.podSelector.matchLabel = {}), field: 'spec.podSelector.matchLabel', detail: /unknown field/ },
  { name: 'In without values', mutate: (o) => (o.spec.podSelector.matchExpressions[0].values = []), field: 'spec.podSelector.matchExpressions[0].values', detail: /must be specified when `operator` is 'In'/ },
  { name: 'NotIn without values', mutate: (o) => (o.spec.podSelector.matchExpressions[0] = { key: 'a', operator: 'NotIn' }), field: 'spec.podSelector.matchExpressions[0].values', detail: /must be specified when `operator` is 'NotIn'/ },
  { name: 'Exists with values', mutate: (o) => (o.spec.podSelector.matchExpressions[0] = { key: 'a', operator: 'Exists', values: ['x'] }), field: 'spec.podSelector.matchExpressions[0].values', detail: /may not be specified when `operator` is 'Exists'/ },
  { name: 'DoesNotExist with values', mutate: (o) => (o.spec.podSelector.matchExpressions[0] = { key: 'a', operator: 'DoesNotExist', values: ['x'] }), field: 'spec.podSelector.matchExpressions[0].values', detail: /DoesNotExist/ },
  { name: 'unknown operator', mutate: (o) => (o.spec.podSelector.matchExpressions[0].operator = 'Gt'), field: 'spec.podSelector.matchExpressions[0].operator', detail: /not a valid selector operator "Gt"/ },
  { name: 'operator in lower case', mutate: (o) => (o.spec.podSelector.matchExpressions[0].operator = 'in'), field: 'spec.podSelector.matchExpressions[0].operator', detail: /not a valid selector operator "in"/ },
  { name: 'expression without key', mutate: (o) => delete o.spec.podSelector.matchExpressions[0].key, field: 'spec.podSelector.matchExpressions[0].key', detail: /required/ },
  { name: 'expression without operator', mutate: (o) => delete o.spec.podSelector.matchExpressions[0].operator, field: 'spec.podSelector.matchExpressions[0].operator', detail: /required/ },
  { name: 'expression value invalid', mutate: (o) => (o.spec.podSelector.matchExpressions[0].values = ['ok', 'no way']), field: 'spec.podSelector.matchExpressions[0].values[1]', detail: /invalid value "no way"/ },
  { name: 'expression key invalid', mutate: (o) => (o.spec.podSelector.matchExpressions[0].key = 'a/b/c'), field: 'spec.podSelector.matchExpressions[0].key', detail: /qualified name/ },
  { name: 'policyTypes value', mutate: (o) => (o.spec.policyTypes = ['ingress']), field: 'spec.policyTypes[0]', detail: /unsupported value "ingress"/ },
  { name: 'policyTypes more than two', mutate: (o) => (o.spec.policyTypes = ['Ingress', 'Egress', 'Ingress']), field: 'spec.policyTypes', detail: /more than two/ },
  { name: 'policyTypes not a list', mutate: (o) => (o.spec.policyTypes = 'Ingress'), field: 'spec.policyTypes', detail: /must be a list/ },
  { name: 'ingress rule unknown field (to in ingress)', mutate: (o) => (o.spec.ingress[0].to = []), field: 'spec.ingress[0].to', detail: /unknown field "to"/ },
  { name: 'egress rule unknown field (from in egress)', mutate: (o) => (o.spec.egress[1].from = []), field: 'spec.egress[1].from', detail: /unknown field "from"/ },
  { name: 'empty peer', mutate: (o) => (o.spec.ingress[0].from[0] = {}), field: 'spec.ingress[0].from[0]', detail: /must specify a peer/ },
  { name: 'null peer', mutate: (o) => (o.spec.ingress[0].from[0] = null), field: 'spec.ingress[0].from[0]', detail: /must specify a peer/ },
  { name: 'unknown peer field', mutate: (o) => (o.spec.ingress[0].from[0].podSelectr = {}), field: 'spec.ingress[0].from[0].podSelectr', detail: /unknown field/ },
  { name: 'ipBlock with podSelector', mutate: (o) => (o.spec.ingress[0].from[2].podSelector = {}), field: 'spec.ingress[0].from[2]', detail: /may not specify both ipBlock and another peer/ },
  { name: 'ipBlock with namespaceSelector', mutate: (o) => (o.spec.egress[0].to[0].namespaceSelector = {}), field: 'spec.egress[0].to[0]', detail: /may not specify both ipBlock/ },
  { name: 'ipBlock without cidr', mutate: (o) => delete o.spec.ingress[0].from[2].ipBlock.cidr, field: 'spec.ingress[0].from[2].ipBlock.cidr', detail: /required/ },
  { name: 'ipBlock cidr not a CIDR', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock.cidr = '10.0.0.0'), field: 'spec.ingress[0].from[2].ipBlock.cidr', detail: /must be a valid CIDR/ },
  { name: 'ipBlock cidr prefix too long', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock = { cidr: '10.0.0.0/33' }), field: 'spec.ingress[0].from[2].ipBlock.cidr', detail: /must be a valid CIDR/ },
  { name: 'ipBlock cidr v6 prefix too long', mutate: (o) => (o.spec.egress[0].to[0].ipBlock = { cidr: '2001:db8::/129' }), field: 'spec.egress[0].to[0].ipBlock.cidr', detail: /must be a valid CIDR/ },
  { name: 'ipBlock cidr with zone', mutate: (o) => (o.spec.egress[0].to[0].ipBlock = { cidr: 'fe80::%eth0/64' }), field: 'spec.egress[0].to[0].ipBlock.cidr', detail: /must be a valid CIDR/ },
  { name: 'except invalid', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock.except[1] = '10.2.3.4'), field: 'spec.ingress[0].from[2].ipBlock.except[1]', detail: /must be a valid CIDR/ },
  { name: 'except outside cidr', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock.except = ['11.0.0.0/16']), field: 'spec.ingress[0].from[2].ipBlock.except[0]', detail: /strict subset of `cidr` "10\.0\.0\.0\/8"/ },
  { name: 'except equal to cidr', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock.except = ['10.0.0.0/8']), field: 'spec.ingress[0].from[2].ipBlock.except[0]', detail: /strict subset/ },
  { name: 'except wider than cidr', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock.except = ['10.0.0.0/7']), field: 'spec.ingress[0].from[2].ipBlock.except[0]', detail: /strict subset/ },
  { name: 'except of the other family', mutate: (o) => (o.spec.egress[0].to[0].ipBlock.except = ['10.0.0.0/8']), field: 'spec.egress[0].to[0].ipBlock.except[0]', detail: /IPv4 inside an IPv6 cidr/ },
  { name: 'except v6 outside', mutate: (o) => (o.spec.egress[0].to[0].ipBlock.except = ['2001:db9::/48']), field: 'spec.egress[0].to[0].ipBlock.except[0]', detail: /strict subset/ },
  { name: 'protocol unsupported', mutate: (o) => (o.spec.ingress[0].ports[0].protocol = 'ICMP'), field: 'spec.ingress[0].ports[0].protocol', detail: /unsupported value "ICMP"/ },
  { name: 'protocol lower case', mutate: (o) => (o.spec.ingress[0].ports[0].protocol = 'tcp'), field: 'spec.ingress[0].ports[0].protocol', detail: /unsupported value "tcp"/ },
  { name: 'port 0', mutate: (o) => (o.spec.ingress[0].ports[0].port = 0), field: 'spec.ingress[0].ports[0].port', detail: /between 1 and 65535/ },
  { name: 'port 65536', mutate: (o) => (o.spec.ingress[0].ports[0].port = 65536), field: 'spec.ingress[0].ports[0].port', detail: /between 1 and 65535/ },
  { name: 'port not an integer', mutate: (o) => (o.spec.ingress[0].ports[0].port = 80.5), field: 'spec.ingress[0].ports[0].port', detail: /integer or a port name/ },
  { name: 'port a boolean', mutate: (o) => (o.spec.ingress[0].ports[0].port = true), field: 'spec.ingress[0].ports[0].port', detail: /integer or a port name/ },
  { name: 'port name: digits only', mutate: (o) => (o.spec.ingress[0].ports[1].port = '80'), field: 'spec.ingress[0].ports[1].port', detail: /at least one letter/ },
  { name: 'port name: too long', mutate: (o) => (o.spec.ingress[0].ports[1].port = 'a-very-long-port-name'), field: 'spec.ingress[0].ports[1].port', detail: /no more than 15/ },
  { name: 'port name: upper case', mutate: (o) => (o.spec.ingress[0].ports[1].port = 'HTTP'), field: 'spec.ingress[0].ports[1].port', detail: /alpha-numeric/ },
  { name: 'port name: double hyphen', mutate: (o) => (o.spec.ingress[0].ports[1].port = 'a--b'), field: 'spec.ingress[0].ports[1].port', detail: /consecutive hyphens/ },
  { name: 'port name: trailing hyphen', mutate: (o) => (o.spec.ingress[0].ports[1].port = 'http-'), field: 'spec.ingress[0].ports[1].port', detail: /alpha-numeric/ },
  { name: 'endPort below port', mutate: (o) => (o.spec.egress[0].ports[0].endPort = 7999), field: 'spec.egress[0].ports[0].endPort', detail: /greater than or equal to `port`/ },
  { name: 'endPort above 65535', mutate: (o) => (o.spec.egress[0].ports[0].endPort = 70000), field: 'spec.egress[0].ports[0].endPort', detail: /between 1 and 65535/ },
  { name: 'endPort with a named port', mutate: (o) => (o.spec.ingress[0].ports[1].endPort = 9000), field: 'spec.ingress[0].ports[1].endPort', detail: /non-numeric/ },
  { name: 'endPort without port', mutate: (o) => (o.spec.ingress[0].ports[2].endPort = 9000), field: 'spec.ingress[0].ports[2].endPort', detail: /`port` is not specified/ },
  { name: 'endPort a string', mutate: (o) => (o.spec.egress[0].ports[0].endPort = '9000'), field: 'spec.egress[0].ports[0].endPort', detail: /must be an integer/ },
  { name: 'unknown port field', mutate: (o) => (o.spec.ingress[0].ports[0].portName = 'x'), field: 'spec.ingress[0].ports[0].portName', detail: /unknown field/ },
  { name: 'ports not a list', mutate: (o) => (o.spec.ingress[0].ports = { port: 80 }), field: 'spec.ingress[0].ports', detail: /must be a list/ },
  { name: 'rule not a mapping', mutate: (o) => (o.spec.egress[1] = 'all'), field: 'spec.egress[1]', detail: /must be a mapping/ },
];

/** Objects the API server accepts (and so must netpol). */
export const good: { name: string; mutate: (o: Obj) => void }[] = [
  { name: 'no namespace (kubectl fills it in)', mutate: (o) => delete o.metadata.namespace },
  { name: 'no spec at all', mutate: (o) => delete o.spec },
  { name: 'no podSelector (zero value {})', mutate: (o) => delete o.spec.podSelector },
  { name: 'podSelector {}', mutate: (o) => (o.spec.podSelector = {}) },
  { name: 'null optional fields', mutate: (o) => ((o.spec.ingress = null), (o.spec.policyTypes = null)) },
  { name: 'empty rules lists', mutate: (o) => ((o.spec.ingress = []), (o.spec.egress = [])) },
  { name: 'duplicate policyTypes (the API server allows it)', mutate: (o) => (o.spec.policyTypes = ['Ingress', 'Ingress']) },
  { name: 'label value empty', mutate: (o) => (o.spec.podSelector.matchLabels = { app: '' }) },
  { name: 'prefixed label key', mutate: (o) => (o.spec.podSelector.matchLabels = { 'kubernetes.io/metadata.name': 'kube-system' }) },
  { name: 'host bits set in cidr', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock = { cidr: '10.0.0.1/8', except: ['10.0.0.5/24'] }) },
  { name: 'cidr /0 with except', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock = { cidr: '0.0.0.0/0', except: ['169.254.169.254/32'] }) },
  { name: 'endPort equal to port', mutate: (o) => (o.spec.egress[0].ports[0].endPort = 8000) },
  { name: 'port 65535 and 1', mutate: (o) => (o.spec.ingress[0].ports = [{ port: 1 }, { port: 65535 }]) },
  { name: 'port name with digits and hyphen', mutate: (o) => (o.spec.ingress[0].ports[1].port = 'h2c-8080') },
  { name: 'IPv4 cidr with leading zeros (read as decimal, like Go)', mutate: (o) => (o.spec.ingress[0].from[2].ipBlock = { cidr: '010.0.0.0/8', except: ['010.001.0.0/16'] }) },
  { name: 'IPv4-mapped IPv6 cidr', mutate: (o) => (o.spec.egress[0].to[0].ipBlock = { cidr: '::ffff:10.0.0.0/104', except: ['::ffff:10.1.0.0/112'] }) },
  { name: 'server-set metadata', mutate: (o) => Object.assign(o.metadata, { uid: 'x', resourceVersion: '1', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z' }) },
  { name: 'egress: [{}] allow all', mutate: (o) => (o.spec.egress = [{}]) },
];
