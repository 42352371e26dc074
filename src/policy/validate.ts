/**
 * NetworkPolicy validation mirroring the API server (k8s.io/kubernetes pkg/apis/networking/validation
 * plus strict field decoding), so netpol rejects what `kubectl apply` would and never evaluates or
 * writes a policy a cluster would refuse.
 *
 * Checked: apiVersion and kind; metadata.name (DNS-1123 subdomain), metadata.namespace (DNS-1123
 * label), metadata labels/annotations; label selectors (keys and values syntax, operators, values
 * required for In/NotIn and forbidden for Exists/DoesNotExist); peers (at least one of podSelector,
 * namespaceSelector, ipBlock; ipBlock alone; CIDR syntax; each except a strict subset of the cidr, so
 * of the same family); ports (protocol TCP/UDP/SCTP, numeric 1-65535 or an IANA service name,
 * endPort only with a numeric port and >= it); policyTypes (Ingress/Egress, at most two); unknown
 * or wrongly typed fields at every level (kubectl's default strict field validation).
 *
 * Accepted like the API server accepts them: an absent spec or podSelector (zero value: `{}`, which
 * selects every pod of the namespace), `null` for optional fields, the sloppy CIDR spellings of
 * policy-cidr.ts, an absent namespace (kubectl fills in its context's; the loader uses `default`).
 * Rejected though the server alone would take it: a missing apiVersion (kubectl refuses it).
 * test/e2e/policy-validate-apiserver.test.ts checks every case of the unit table against a real
 * kube-apiserver.
 */
import type { Cidr } from '../flows/ip.js';
import type { V1NetworkPolicy } from '../cluster/objects.js';
import { InputError } from '../errors.js';
import {
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  labelKeyErrors,
  labelValueErrors,
  portNameErrors,
  portNumberErrors,
} from './k8s-names.js';
import { isStrictSubnet, parsePolicyCidr } from './policy-cidr.js';
import { SELECTOR_OPERATORS } from './selector.js';

export const NETWORK_POLICY_API_VERSION = 'networking.k8s.io/v1';
export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export const POLICY_TYPES = ['Ingress', 'Egress'] as const;

/** A field path as the API server prints it: `spec.egress[0].ports[1].endPort`. */
export type FieldPath = (string | number)[];

export interface ValidationLocation {
  file: string;
  /** Line the object starts on. */
  line?: number;
  /** The line of a field inside the object, when the caller kept the YAML nodes. */
  lineOf?: (path: FieldPath) => number | undefined;
}

export interface FieldProblem {
  path: FieldPath;
  detail: string;
}

export function formatFieldPath(path: FieldPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v} (${JSON.stringify(v)})`;
}

const OBJECT_META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

/** Collects every problem of one object, in document order. */
class Checker {
  readonly problems: FieldProblem[] = [];

  add(path: FieldPath, detail: string): void {
    this.problems.push({ path, detail });
  }

  /** Reports fields not in `known`; returns the object (or undefined when it is not a mapping). */
  mapping(value: unknown, path: FieldPath, known: readonly string[]): Obj | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isObj(value)) {
      this.add(path, `must be a mapping, got ${typeName(value)}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) this.add([...path, key], `unknown field "${key}" (known fields: ${known.join(', ')})`);
    }
    return value;
  }

  list(value: unknown, path: FieldPath): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.add(path, `must be a list, got ${typeName(value)}`);
      return [];
    }
    return value;
  }

  string(value: unknown, path: FieldPath): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      this.add(path, `must be a string, got ${typeName(value)}`);
      return undefined;
    }
    return value;
  }

  integer(value: unknown, path: FieldPath): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.add(path, `must be an integer, got ${typeName(value)}`);
      return undefined;
    }
    return value;
  }

  stringMap(value: unknown, path: FieldPath, checkKey: (k: string) => string[], checkValue?: (v: string) => string[]): void {
    if (value === undefined || value === null) return;
    if (!isObj(value)) {
      this.add(path, `must be a mapping of strings, got ${typeName(value)}`);
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      const keyErrs = checkKey(k);
      if (keyErrs.length > 0) this.add([...path, k], `invalid key ${JSON.stringify(k)}: ${keyErrs.join('; ')}`);
      if (typeof v !== 'string') {
        this.add([...path, k], `value must be a string, got ${typeName(v)} (quote it in YAML)`);
        continue;
      }
      const valueErrs = checkValue?.(v) ?? [];
      if (valueErrs.length > 0) this.add([...path, k], `invalid value ${JSON.stringify(v)}: ${valueErrs.join('; ')}`);
    }
  }

  selector(value: unknown, path: FieldPath): void {
    const sel = this.mapping(value, path, ['matchLabels', 'matchExpressions']);
    if (!sel) return;
    this.stringMap(sel.matchLabels, [...path, 'matchLabels'], labelKeyErrors, labelValueErrors);
    this.list(sel.matchExpressions, [...path, 'matchExpressions']).forEach((item, i) => {
      const at = [...path, 'matchExpressions', i];
      const req = this.mapping(item, at, ['key', 'operator', 'values']);
      if (!req) {
        if (item === null || item === undefined) this.add(at, 'a requirement needs key and operator');
        return;
      }
      const key = this.string(req.key, [...at, 'key']);
      if (key === undefined) {
        if (req.key === undefined || req.key === null) this.add([...at, 'key'], 'required');
      } else {
        const errs = labelKeyErrors(key);
        if (errs.length > 0) this.add([...at, 'key'], `invalid value ${JSON.stringify(key)}: ${errs.join('; ')}`);
      }
      const op = this.string(req.operator, [...at, 'operator']);
      const values = this.list(req.values, [...at, 'values']);
      values.forEach((v, j) => {
        const s = this.string(v, [...at, 'values', j]);
        if (s === undefined) return;
        const errs = labelValueErrors(s);
        if (errs.length > 0) this.add([...at, 'values', j], `invalid value ${JSON.stringify(s)}: ${errs.join('; ')}`);
      });
      if (op === undefined) {
        if (req.operator === undefined || req.operator === null) this.add([...at, 'operator'], 'required');
      } else if (op === 'In' || op === 'NotIn') {
        if (values.length === 0) this.add([...at, 'values'], `must be specified when \`operator\` is '${op}'`);
      } else if (op === 'Exists' || op === 'DoesNotExist') {
        if (values.length > 0) this.add([...at, 'values'], `may not be specified when \`operator\` is '${op}'`);
      } else {
        this.add([...at, 'operator'], `not a valid selector operator ${JSON.stringify(op)} (supported: ${SELECTOR_OPERATORS.join(', ')})`);
      }
    });
  }

  cidr(value: unknown, path: FieldPath): Cidr | undefined {
    const text = this.string(value, path);
    if (text === undefined) return undefined;
    const cidr = parsePolicyCidr(text);
    if (!cidr) this.add(path, `invalid value ${JSON.stringify(text)}: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`);
    return cidr;
  }

  ipBlock(value: unknown, path: FieldPath): void {
    const block = this.mapping(value, path, ['cidr', 'except']);
    if (!block) return;
    if (block.cidr === undefined || block.cidr === null || block.cidr === '') {
      this.add([...path, 'cidr'], 'required');
      return;
    }
    const cidr = this.cidr(block.cidr, [...path, 'cidr']);
    this.list(block.except, [...path, 'except']).forEach((e, i) => {
      const at = [...path, 'except', i];
      const ex = this.cidr(e, at);
      if (!cidr || !ex) return;
      if (!isStrictSubnet(ex, cidr)) {
        const why = ex.family !== cidr.family ? ` (IPv${ex.family} inside an IPv${cidr.family} cidr)` : '';
        this.add(at, `invalid value ${JSON.stringify(e)}: must be a strict subset of \`cidr\` ${JSON.stringify(block.cidr)}${why}`);
      }
    });
  }

  peer(value: unknown, path: FieldPath): void {
    const peer = this.mapping(value, path, ['podSelector', 'namespaceSelector', 'ipBlock']);
    const given = (k: string): boolean => peer !== undefined && peer[k] !== undefined && peer[k] !== null;
    const count = ['podSelector', 'namespaceSelector', 'ipBlock'].filter(given).length;
    if (value !== null && value !== undefined && !peer) return; // not a mapping: already reported
    if (count === 0) {
      this.add(path, 'must specify a peer (podSelector, namespaceSelector or ipBlock)');
      return;
    }
    if (count > 1 && given('ipBlock')) this.add(path, 'may not specify both ipBlock and another peer');
    this.selector(peer!.podSelector, [...path, 'podSelector']);
    this.selector(peer!.namespaceSelector, [...path, 'namespaceSelector']);
    this.ipBlock(peer!.ipBlock, [...path, 'ipBlock']);
  }

  port(value: unknown, path: FieldPath): void {
    const port = this.mapping(value, path, ['protocol', 'port', 'endPort']);
    if (!port) return;
    const protocol = this.string(port.protocol, [...path, 'protocol']);
    if (protocol !== undefined && !(PROTOCOLS as readonly string[]).includes(protocol)) {
      this.add([...path, 'protocol'], `unsupported value ${JSON.stringify(protocol)}: supported values: "TCP", "UDP", "SCTP"`);
    }
    const endPort = this.integer(port.endPort, [...path, 'endPort']);
    const p = port.port;
    if (p === undefined || p === null) {
      if (endPort !== undefined) this.add([...path, 'endPort'], 'may not be specified when `port` is not specified');
      return;
    }
    if (typeof p === 'number') {
      if (!Number.isInteger(p)) {
        this.add([...path, 'port'], `must be an integer or a port name, got ${JSON.stringify(p)}`);
        return;
      }
      for (const e of portNumberErrors(p)) this.add([...path, 'port'], `invalid value ${p}: ${e}`);
      if (endPort !== undefined) {
        if (endPort < p) this.add([...path, 'endPort'], `invalid value ${endPort}: must be greater than or equal to \`port\` (${p})`);
        for (const e of portNumberErrors(endPort)) this.add([...path, 'endPort'], `invalid value ${endPort}: ${e}`);
      }
    } else if (typeof p === 'string') {
      if (endPort !== undefined) this.add([...path, 'endPort'], 'may not be specified when `port` is non-numeric');
      const errs = portNameErrors(p);
      if (errs.length > 0) this.add([...path, 'port'], `invalid value ${JSON.stringify(p)}: ${errs.join('; ')}`);
    } else {
      this.add([...path, 'port'], `must be an integer or a port name, got ${typeName(p)}`);
    }
  }

  rules(value: unknown, path: FieldPath, peersField: 'from' | 'to'): void {
    this.list(value, path).forEach((item, i) => {
      const at = [...path, i];
      const rule = this.mapping(item, at, [peersField, 'ports']);
      if (!rule) return;
      this.list(rule.ports, [...at, 'ports']).forEach((p, j) => this.port(p, [...at, 'ports', j]));
      this.list(rule[peersField], [...at, peersField]).forEach((p, j) => this.peer(p, [...at, peersField, j]));
    });
  }

  metadata(value: unknown): void {
    const path = ['metadata'];
    if (value === undefined || value === null) {
      this.add(['metadata', 'name'], 'required');
      return;
    }
    const meta = this.mapping(value, path, [...OBJECT_META_FIELDS]);
    if (!meta) return;
    const name = this.string(meta.name, ['metadata', 'name']);
    if (name === undefined || name === '') {
      if (meta.name === undefined || meta.name === null || name === '') this.add(['metadata', 'name'], 'required');
    } else {
      const errs = dns1123SubdomainErrors(name);
      if (errs.length > 0) this.add(['metadata', 'name'], `invalid value ${JSON.stringify(name)}: ${errs.join('; ')}`);
    }
    const ns = this.string(meta.namespace, ['metadata', 'namespace']);
    if (ns !== undefined && ns !== '') {
      const errs = dns1123LabelErrors(ns);
      if (errs.length > 0) this.add(['metadata', 'namespace'], `invalid value ${JSON.stringify(ns)}: ${errs.join('; ')}`);
    }
    this.stringMap(meta.labels, ['metadata', 'labels'], labelKeyErrors, labelValueErrors);
    this.stringMap(meta.annotations, ['metadata', 'annotations'], labelKeyErrors);
  }

  spec(value: unknown): void {
    const spec = this.mapping(value, ['spec'], ['podSelector', 'ingress', 'egress', 'policyTypes']);
    if (!spec) return;
    this.selector(spec.podSelector, ['spec', 'podSelector']);
    this.rules(spec.ingress, ['spec', 'ingress'], 'from');
    this.rules(spec.egress, ['spec', 'egress'], 'to');
    const types = this.list(spec.policyTypes, ['spec', 'policyTypes']);
    if (types.length > POLICY_TYPES.length) {
      this.add(['spec', 'policyTypes'], 'may not specify more than two policyTypes');
      return;
    }
    types.forEach((t, i) => {
      const s = this.string(t, ['spec', 'policyTypes', i]);
      if (s !== undefined && !(POLICY_TYPES as readonly string[]).includes(s)) {
        this.add(['spec', 'policyTypes', i], `unsupported value ${JSON.stringify(s)}: supported values: "Ingress", "Egress"`);
      }
    });
  }
}

/** Every problem the API server would report for this object, in document order (empty: valid). */
export function networkPolicyProblems(obj: unknown): FieldProblem[] {
  const c = new Checker();
  if (!isObj(obj)) {
    c.add([], `a NetworkPolicy must be a mapping, got ${typeName(obj)}`);
    return c.problems;
  }
  if (obj.apiVersion !== NETWORK_POLICY_API_VERSION) {
    c.add(['apiVersion'], `a NetworkPolicy must be apiVersion ${NETWORK_POLICY_API_VERSION}, got ${JSON.stringify(obj.apiVersion ?? null)}`);
  }
  if (obj.kind !== 'NetworkPolicy') c.add(['kind'], `expected kind NetworkPolicy, got ${JSON.stringify(obj.kind ?? null)}`);
  c.mapping(obj, [], ['apiVersion', 'kind', 'metadata', 'spec']);
  c.metadata(obj.metadata);
  c.spec(obj.spec);
  return c.problems;
}

/**
 * Validates one object as the API server would and returns it typed, or throws an InputError naming
 * the file, the line (of the field when `where.lineOf` can tell, else of the object), the field
 * path and the first problem (with a count of the others).
 */
export function validateNetworkPolicy(obj: unknown, where: ValidationLocation): V1NetworkPolicy {
  const problems = networkPolicyProblems(obj);
  const first = problems[0];
  if (first) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    const name = isObj(obj) && isObj(obj.metadata) && typeof obj.metadata.name === 'string' ? `NetworkPolicy ${obj.metadata.name}: ` : '';
    const line = where.lineOf?.(first.path) ?? where.line;
    throw new InputError(where.file, `${name}${first.detail}${more}`, line, formatFieldPath(first.path) || undefined);
  }
  return obj as V1NetworkPolicy;
}
