/**
 * The types of the snapshot fields netpol reads, checked where a snapshot is read, so a hand-edited
 * or corrupted file is an error naming file, line and field (exit 2) instead of a TypeError deep in
 * the index (`ownerReferences` as a mapping, `podIPs: 30`, `labels: run`, an IPv6 zone id in a
 * podIP). Only fields netpol reads are described; anything else is left alone, and `null` counts as
 * absent, as the code reading these fields treats it (`?? []`).
 */
import { isIP } from 'node:net';
import { InputError } from '../errors.js';
import type { LocatedObject } from './yaml-documents.js';

export type ShapePath = (string | number)[];

/** What a field must hold. `fields` lists the members netpol reads, `required` those that must be there. */
type Shape =
  | 'string'
  | 'integer'
  | 'boolean'
  | 'ip'
  | 'ipOrNone'
  | 'address'
  | 'intOrString'
  | { list: Shape }
  | { map: Shape }
  | { fields: Record<string, Shape>; required?: readonly string[] };

const labels: Shape = { map: 'string' };
const selector: Shape = {
  fields: {
    matchLabels: labels,
    matchExpressions: { list: { fields: { key: 'string', operator: 'string', values: { list: 'string' } } } },
  },
};
const metadata: Shape = {
  fields: {
    name: 'string',
    namespace: 'string',
    labels,
    annotations: { map: 'string' },
    ownerReferences: { list: { fields: { kind: 'string', name: 'string', controller: 'boolean' }, required: ['kind', 'name'] } },
  },
};
const containers: Shape = {
  list: {
    fields: {
      name: 'string',
      ports: { list: { fields: { containerPort: 'integer', name: 'string', protocol: 'string' } } },
    },
  },
};
const containerStatuses: Shape = { list: { fields: { name: 'string', containerID: 'string' } } };
const template: Shape = { fields: { metadata: { fields: { labels } } } };

const SHAPES: Record<string, Shape> = {
  Namespace: { fields: { metadata } },
  Pod: {
    fields: {
      metadata,
      spec: { fields: { hostNetwork: 'boolean', nodeName: 'string', containers, initContainers: containers, ephemeralContainers: containers } },
      status: {
        fields: {
          phase: 'string',
          podIP: 'ip',
          podIPs: { list: { fields: { ip: 'ip' } } },
          containerStatuses,
          initContainerStatuses: containerStatuses,
          ephemeralContainerStatuses: containerStatuses,
        },
      },
    },
  },
  Service: {
    fields: {
      metadata,
      spec: {
        fields: {
          type: 'string',
          clusterIP: 'ipOrNone',
          clusterIPs: { list: 'ipOrNone' },
          externalIPs: { list: 'ip' },
          selector: labels,
          ports: { list: { fields: { name: 'string', port: 'integer', targetPort: 'intOrString', protocol: 'string' } } },
        },
      },
      status: { fields: { loadBalancer: { fields: { ingress: { list: { fields: { ip: 'ip' } } } } } } },
    },
  },
  EndpointSlice: {
    fields: {
      metadata,
      addressType: 'string',
      endpoints: {
        list: {
          fields: {
            addresses: { list: 'address' },
            conditions: { fields: { ready: 'boolean' } },
            targetRef: { fields: { kind: 'string', name: 'string', namespace: 'string' } },
          },
        },
      },
      ports: { list: { fields: { name: 'string', port: 'integer', protocol: 'string' } } },
    },
  },
  Node: {
    fields: { metadata, status: { fields: { addresses: { list: { fields: { type: 'string', address: 'address' }, required: ['type', 'address'] } } } } },
  },
  NetworkPolicy: { fields: { metadata, spec: { fields: { podSelector: selector } } } },
};
const OWNER: Shape = {
  fields: {
    metadata,
    spec: { fields: { selector, template, jobTemplate: { fields: { spec: { fields: { template } } } } } },
  },
};

const SCALAR_NAMES: Record<Extract<Shape, string>, string> = {
  string: 'a string',
  integer: 'an integer',
  boolean: 'true or false',
  ip: 'an IP address',
  ipOrNone: 'an IP address',
  address: 'an address',
  intOrString: 'a port number or name',
};

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `a string (${v.length > 60 ? `${JSON.stringify(v.slice(0, 60))}…` : JSON.stringify(v)})`;
  return `a ${typeof v} (${String(v)})`;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Problem {
  /** Field path below the value checked, built on the way back up (nothing allocated when all is well). */
  path: ShapePath;
  detail: string;
}

function wrong(value: unknown, expected: string): Problem {
  return { path: [], detail: `must be ${expected}, got ${typeName(value)}` };
}

/** Why `value` does not fit `shape`, or undefined; the first problem only. Runs on every object of a snapshot. */
function problem(value: unknown, shape: Shape): Problem | undefined {
  if (value === undefined) return undefined;
  // An empty `labels:` is null: a list or mapping that is null is absent (the code reads `?? []`),
  // a null scalar is not (`address: null` reaches canonicalIp).
  if (value === null) return typeof shape === 'string' ? wrong(value, SCALAR_NAMES[shape]) : undefined;
  if (typeof shape === 'string') {
    switch (shape) {
      case 'string':
        return typeof value === 'string' ? undefined : wrong(value, 'a string');
      case 'boolean':
        return typeof value === 'boolean' ? undefined : wrong(value, 'true or false');
      case 'integer':
        return Number.isInteger(value) ? undefined : wrong(value, 'an integer');
      case 'intOrString':
        return Number.isInteger(value) || typeof value === 'string' ? undefined : wrong(value, 'a port number or name');
      case 'address':
      case 'ip':
      case 'ipOrNone': {
        if (typeof value !== 'string') return wrong(value, 'an IP address (a string)');
        // A zone id names one host's interface: the address alone is what pods and flows carry.
        if (value.includes('%')) return { path: [], detail: `an IPv6 zone id is not allowed in an address: ${JSON.stringify(value.slice(0, 60))}` };
        if (shape === 'address' || value === '' || (shape === 'ipOrNone' && value === 'None')) return undefined;
        return isIP(value) === 0 ? wrong(value, 'an IP address') : undefined;
      }
    }
  }
  if ('list' in shape) {
    if (!Array.isArray(value)) return wrong(value, 'a list');
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const p = item === null || item === undefined ? { path: [], detail: 'a list item must not be null' } : problem(item, shape.list);
      if (p) {
        p.path.unshift(i);
        return p;
      }
    }
    return undefined;
  }
  if (!isMapping(value)) return wrong(value, 'a mapping');
  if ('map' in shape) {
    for (const key in value) {
      const p = problem(value[key], shape.map);
      if (p) {
        p.path.unshift(key);
        return p;
      }
    }
    return undefined;
  }
  if (shape.required) {
    for (const key of shape.required) {
      if (value[key] === undefined || value[key] === null || value[key] === '') return { path: [key], detail: 'required' };
    }
  }
  for (const key in shape.fields) {
    const p = problem(value[key], shape.fields[key]!);
    if (p) {
      p.path.unshift(key);
      return p;
    }
  }
  return undefined;
}

export function formatShapePath(path: ShapePath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/**
 * Throws an InputError naming file, line (the field's own line when the YAML gave one) and field
 * when a field netpol reads has the wrong type. `isOwner` for the controller kinds.
 */
export function checkSnapshotObject(located: LocatedObject, isOwner: boolean): void {
  const kind = located.object.kind as string;
  // Own properties only: a kind named `constructor` or `__proto__` is no shape.
  const shape = isOwner ? OWNER : Object.hasOwn(SHAPES, kind) ? SHAPES[kind] : undefined;
  if (!shape) return;
  const p = problem(located.object, shape);
  if (!p) return;
  const line = located.lineOf?.(p.path) ?? located.line;
  const meta = located.object.metadata as { name?: unknown; namespace?: unknown } | undefined;
  const name = typeof meta?.namespace === 'string' ? `${meta.namespace}/${String(meta.name)}` : String(meta?.name);
  throw new InputError(located.file, `${p.detail} (in ${kind} ${name})`, line, formatShapePath(p.path));
}
