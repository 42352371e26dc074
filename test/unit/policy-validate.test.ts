import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { formatFieldPath, networkPolicyProblems, validateNetworkPolicy } from '../../src/policy/validate.js';
import { bad, base, good } from './support/policy-validation-cases.js';

describe('validateNetworkPolicy', () => {
  it('accepts the base policy and returns it', () => {
    const o = base();
    expect(networkPolicyProblems(o)).toEqual([]);
    expect(validateNetworkPolicy(o, { file: 'p.yaml', line: 1 })).toBe(o);
  });

  for (const g of good) {
    it(`accepts: ${g.name}`, () => {
      const o = base();
      g.mutate(o);
      expect(networkPolicyProblems(o)).toEqual([]);
    });
  }

  for (const b of bad) {
    it(`rejects: ${b.name}`, () => {
      const o = base();
      b.mutate(o);
      let err: unknown;
      try {
        validateNetworkPolicy(o, { file: 'policies/web.yaml', line: 7 });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InputError);
      const e = err as InputError;
      expect(e.source).toBe('policies/web.yaml');
      expect(e.line).toBe(7);
      expect(e.field).toBe(b.field);
      expect(e.detail).toMatch(b.detail);
      expect(e.message.startsWith(`policies/web.yaml:7: ${b.field}: `)).toBe(true);
    });
  }

  it('rejects a value that is not a mapping', () => {
    expect(() => validateNetworkPolicy('hello', { file: 'f.yaml', line: 3 })).toThrow(/f\.yaml:3: a NetworkPolicy must be a mapping/);
  });

  it('names the policy and counts the other problems', () => {
    const o = base();
    o.spec.ingress[0].ports[0].port = 0;
    o.spec.egress[0].ports[0].endPort = 1;
    o.spec.policyTypes = ['Both'];
    expect(() => validateNetworkPolicy(o, { file: 'f.yaml' })).toThrow('f.yaml: spec.ingress[0].ports[0].port: NetworkPolicy web.policy-1: invalid value 0: must be between 1 and 65535, inclusive (and 2 more problems)');
    expect(networkPolicyProblems(o).map((p) => formatFieldPath(p.path))).toEqual([
      'spec.ingress[0].ports[0].port',
      'spec.egress[0].ports[0].endPort',
      'spec.policyTypes[0]',
    ]);
  });

  it('uses the line of the field when the caller can tell it', () => {
    const o = base();
    o.spec.egress[0].ports[0].endPort = 1;
    let asked: unknown;
    const lineOf = (path: (string | number)[]) => {
      asked = path;
      return 42;
    };
    expect(() => validateNetworkPolicy(o, { file: 'f.yaml', line: 1, lineOf })).toThrow(/^f\.yaml:42: spec\.egress\[0\]\.ports\[0\]\.endPort: /);
    expect(asked).toEqual(['spec', 'egress', 0, 'ports', 0, 'endPort']);
  });

  it('formats field paths the way the API server does', () => {
    expect(formatFieldPath(['spec', 'egress', 0, 'ports', 1, 'endPort'])).toBe('spec.egress[0].ports[1].endPort');
    expect(formatFieldPath([])).toBe('');
  });
});
